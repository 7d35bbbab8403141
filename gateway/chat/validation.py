"""Validation of incoming chat-completion requests, before any upstream call.

The body stays a plain dict (it is forwarded almost as is); this module only rejects what is wrong,
with a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import ApiError

MAX_MESSAGES = 2048
MAX_N = 8
MAX_STOP = 4
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


def _fail(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{field}: {message}", {"field": field})


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, "must be a number")
    if not low <= value <= high:
        raise _fail(name, f"must be between {low} and {high}")


def _check_int(body: dict[str, Any], name: str, low: int, high: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, "must be an integer")
    if not low <= value <= high:
        raise _fail(name, f"must be between {low} and {high}")


def _check_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise _fail(where, "must be an object")
    role = message.get("role")
    if role not in ROLES:
        raise _fail(f"{where}.role", f"must be one of {sorted(ROLES)}")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _fail(f"{where}.tool_call_id", "is required for tool messages")
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        if role == "assistant" and "content" in message:
            return
        raise _fail(f"{where}.content", "is required")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"{where}.content", "must be a string or a list of content parts")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in CONTENT_PART_TYPES:
            raise _fail(f"{where}.content[{j}]", "must be a content part with a known type")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise _fail(f"{where}.content[{j}].text", "must be a string")
        if part["type"] == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise _fail(f"{where}.content[{j}].image_url.url", "must be a string")


def validate_chat_request(body: Any) -> dict[str, Any]:
    """Return the body if it is a well-formed chat request, else raise ApiError(400)."""
    if not isinstance(body, dict):
        raise _fail("body", "must be a JSON object")
    model = body.get("model", "auto")
    if model is not None and not isinstance(model, str):
        raise _fail("model", "must be a string")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _fail("messages", "must be a non-empty list")
    if len(messages) > MAX_MESSAGES:
        raise _fail("messages", f"at most {MAX_MESSAGES} messages")
    for i, message in enumerate(messages):
        _check_message(i, message)
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "presence_penalty", -2, 2)
    _check_number(body, "frequency_penalty", -2, 2)
    _check_int(body, "max_tokens", 1, 1_000_000)
    _check_int(body, "max_completion_tokens", 1, 1_000_000)
    _check_int(body, "n", 1, MAX_N)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("stream", "must be a boolean")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _fail("stream_options", "must be an object")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= MAX_STOP and all(isinstance(s, str) for s in stop))
    ):
        raise _fail("stop", f"must be a string or a list of at most {MAX_STOP} strings")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("tools", "must be a list")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _fail(f"tools[{i}].function.name", "is required")
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or response_format.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise _fail("response_format.type", "must be text, json_object or json_schema")
    if response_format is not None and response_format["type"] == "json_schema":
        schema = response_format.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise _fail("response_format.json_schema.name", "is required")
    _check_types(body)
    return body


# Optional fields and the JSON types they must have when present (null is always accepted).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int,),
    "logit_bias": (dict,),
    "tool_choice": (str, dict),
    "parallel_tool_calls": (bool,),
    "logprobs": (bool,),
    "user": (str,),
    "metadata": (dict,),
    "store": (bool,),
    "reasoning_effort": (str,),
}


def _check_types(body: dict[str, Any]) -> None:
    for name, types in _FIELD_TYPES.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            expected = " or ".join(_JSON_NAMES[t] for t in types)
            raise _fail(name, f"must be {expected}")
    _check_int(body, "top_logprobs", 0, 20)
    bias = body.get("logit_bias")
    if isinstance(bias, dict) and not all(
        isinstance(v, int | float) and not isinstance(v, bool) and -100 <= v <= 100 for v in bias.values()
    ):
        raise _fail("logit_bias", "values must be numbers between -100 and 100")


_JSON_NAMES = {int: "an integer", dict: "an object", str: "a string", bool: "a boolean"}
