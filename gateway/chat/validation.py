"""Validation of incoming chat-completion requests, before any upstream call.

The body stays a plain dict (it is forwarded almost as is); this module only rejects what is wrong,
with a 400 naming the field. Nested structures (tool calls, tool definitions, tool_choice, image parts,
response_format) are checked here too, so no malformed value ever reaches a provider adapter.

Legacy function calling (``functions``, ``function_call``, ``role: "function"``) is refused with a 400
that points to ``tools`` / ``tool_choice`` / ``role: "tool"``: no provider adapter translates it, and
dropping it silently would change what the model sees.

Only plain ``isinstance`` checks: this runs on every request.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import ApiError

MAX_MESSAGES = 2048
MAX_N = 8
MAX_STOP = 4
MAX_MODEL_CHARS = 256
MAX_USER_CHARS = 256
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
LEGACY_FUNCTIONS = "legacy function calling is not supported; use tools, tool_choice and role 'tool'"
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
IMAGE_DETAILS = frozenset({"auto", "low", "high"})
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
# OpenAI's rule for function (and json_schema) names.
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _unsupported(field: str) -> ApiError:
    return ApiError(400, "unsupported_parameter", f"{field}: {LEGACY_FUNCTIONS}", {"field": field})


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


# --- messages ---------------------------------------------------------------------------------------


def _check_image(where: str, image: Any) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        raise _fail(f"{where}.url", "must be a string")
    url: str = image["url"]
    head = url[:8].lower()
    if head.startswith("data:"):
        if not url[5:11].lower() == "image/" or ";base64," not in url[:256]:
            raise _fail(f"{where}.url", "a data URL must be data:image/<type>;base64,<data>")
    elif not ((head == "https://" and len(url) > 8) or (head.startswith("http://") and len(url) > 7)):
        raise _fail(f"{where}.url", "must be an http(s) URL or a base64 data:image URL")
    detail = image.get("detail")
    if detail is not None and (not isinstance(detail, str) or detail not in IMAGE_DETAILS):
        raise _fail(f"{where}.detail", f"must be one of {sorted(IMAGE_DETAILS)}")


def _check_content_parts(where: str, content: list[Any], text_only: bool) -> None:
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in CONTENT_PART_TYPES or (text_only and kind != "text"):
            allowed = "a text part" if text_only else "a content part with a known type"
            raise _fail(f"{where}.content[{j}]", f"must be {allowed}")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _fail(f"{where}.content[{j}].text", "must be a string")
        elif kind == "image_url":
            _check_image(f"{where}.content[{j}].image_url", part.get("image_url"))


def _check_function_object(where: str, function: Any) -> None:
    """A called function: {"name": str, "arguments": str}."""
    if not isinstance(function, dict):
        raise _fail(where, "must be an object with name and arguments")
    if not isinstance(function.get("name"), str):
        raise _fail(f"{where}.name", "must be a string")
    if not isinstance(function.get("arguments"), str):
        raise _fail(f"{where}.arguments", "must be a string (JSON-encoded arguments)")


def _is_valid_tool_calls(tool_calls: Any) -> bool:
    """The fast path for well-formed tool calls; _check_tool_calls names what is wrong otherwise."""
    if not isinstance(tool_calls, list):
        return False
    for call in tool_calls:
        if (
            not isinstance(call, dict)
            or call.get("type") != "function"
            or not isinstance(call.get("id"), str)
        ):
            return False
        function = call.get("function")
        if not (
            isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            return False
    return True


def _check_tool_calls(where: str, tool_calls: Any) -> None:
    if not isinstance(tool_calls, list):
        raise _fail(where, "must be a list of tool calls")
    for k, call in enumerate(tool_calls):
        at = f"{where}[{k}]"
        if not isinstance(call, dict):
            raise _fail(at, "must be an object")
        if not isinstance(call.get("id"), str):
            raise _fail(f"{at}.id", "must be a string")
        if call.get("type") != "function":
            raise _fail(f"{at}.type", "must be 'function'")
        _check_function_object(f"{at}.function", call.get("function"))


def _check_message(i: int, message: Any) -> None:
    if not isinstance(message, dict):
        raise _fail(f"messages[{i}]", "must be an object")
    role = message.get("role")
    if role == "function" or "function_call" in message:
        raise _unsupported(f"messages[{i}].{'role' if role == 'function' else 'function_call'}")
    if not isinstance(role, str) or role not in ROLES:
        raise _fail(f"messages[{i}].role", f"must be one of {sorted(ROLES)}")
    if len(message) > 2 or role == "tool":
        _check_message_extras(i, role, message)
    content = message.get("content")
    if isinstance(content, str):
        return
    where = f"messages[{i}]"
    if content is None:
        if role == "assistant" and (
            message.get("tool_calls") or "content" in message
        ):
            return
        raise _fail(f"{where}.content", "is required")
    if not isinstance(content, list):
        raise _fail(f"{where}.content", "must be a string or a list of content parts")
    _check_content_parts(where, content, text_only=role == "tool")


def _check_message_extras(i: int, role: str, message: dict[str, Any]) -> None:
    """Fields beyond role and content: name, tool_call_id, tool_calls."""
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise _fail(f"messages[{i}].name", "must be a string")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _fail(f"messages[{i}].tool_call_id", "is required for tool messages")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not _is_valid_tool_calls(tool_calls):
        _check_tool_calls(f"messages[{i}].tool_calls", tool_calls)


# --- tools and tool_choice ----------------------------------------------------------------------------


def _check_parameters(where: str, parameters: Any) -> None:
    """A JSON Schema object; the parts adapters translate (properties, required) must be well shaped."""
    if not isinstance(parameters, dict):
        raise _fail(where, "must be a JSON Schema object")
    properties = parameters.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise _fail(f"{where}.properties", "must be an object of JSON Schemas")
        for key, schema in properties.items():
            if not isinstance(schema, dict):
                raise _fail(f"{where}.properties.{key}", "must be a JSON Schema object")
    required = parameters.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(item, str) for item in required)
    ):
        raise _fail(f"{where}.required", "must be a list of strings")


def _check_function_definition(where: str, function: Any) -> str:
    """A declared function: {"name", "description"?, "parameters"?, "strict"?}; returns its name."""
    if not isinstance(function, dict):
        raise _fail(where, "must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(f"{where}.name", "is required: 1-64 characters of a-z, A-Z, 0-9, _ and -")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise _fail(f"{where}.description", "must be a string")
    parameters = function.get("parameters")
    if parameters is not None:
        _check_parameters(f"{where}.parameters", parameters)
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _fail(f"{where}.strict", "must be a boolean")
    return name


def _tool_names(body: dict[str, Any]) -> set[str] | None:
    """Names of the declared tools (None when the request declares none)."""
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("tools", "must be a list")
    names = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _fail(f"tools[{i}]", "must be an object")
        if tool.get("type") != "function":
            raise _fail(f"tools[{i}].type", "must be 'function'")
        names.add(_check_function_definition(f"tools[{i}].function", tool.get("function")))
    return names


def _check_tool_choice(choice: Any, names: set[str] | None) -> None:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_MODES:
            raise _fail("tool_choice", f"must be one of {sorted(TOOL_CHOICE_MODES)} or a named function")
        if choice == "required" and not names:
            raise _fail("tool_choice", "'required' needs at least one entry in tools")
        return
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise _fail("tool_choice", 'must be a string or {"type": "function", "function": {"name": ...}}')
    function = choice.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _fail("tool_choice.function.name", "must be a string")
    if not names or function["name"] not in names:
        raise _fail("tool_choice.function.name", f"no tool named {function['name']!r} in tools")


def _check_tools(body: dict[str, Any]) -> None:
    names = _tool_names(body)
    choice = body.get("tool_choice")
    if choice is not None:
        _check_tool_choice(choice, names)
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise _unsupported(legacy)


# --- the request --------------------------------------------------------------------------------------


def validate_chat_request(body: Any) -> dict[str, Any]:
    """Return the body if it is a well-formed chat request, else raise ApiError(400)."""
    if not isinstance(body, dict):
        raise _fail("body", "must be a JSON object")
    model = body.get("model")
    if model is not None and (
        not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_CHARS or model.isspace()
    ):
        raise _fail("model", f"must be a model id or \"auto\", at most {MAX_MODEL_CHARS} characters")
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
    _check_stream(body)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= MAX_STOP and all(isinstance(s, str) for s in stop))
    ):
        raise _fail("stop", f"must be a string or a list of at most {MAX_STOP} strings")
    _check_tools(body)
    response_format = body.get("response_format")
    if response_format is not None:
        _check_response_format(response_format)
    _check_types(body)
    return body


def _check_stream(body: dict[str, Any]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("stream", "must be a boolean")
    options = body.get("stream_options")
    if options is None:
        return
    if not isinstance(options, dict):
        raise _fail("stream_options", "must be an object")
    if stream is not True:
        raise _fail("stream_options", "is only allowed when stream is true")
    include_usage = options.get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise _fail("stream_options.include_usage", "must be a boolean")


def _check_response_format(response_format: Any) -> None:
    """json_schema needs a valid name; its schema, when given, is an object (OpenAI makes it optional)."""
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise _fail("response_format.type", "must be text, json_object or json_schema")
    if response_format["type"] != "json_schema":
        return
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise _fail("response_format.json_schema", "must be an object with a name and a schema")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(
            "response_format.json_schema.name", "is required: 1-64 characters of a-z, A-Z, 0-9, _ and -"
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise _fail("response_format.json_schema.schema", "must be a JSON Schema object")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _fail("response_format.json_schema.strict", "must be a boolean")


# Optional fields and the JSON types they must have when present (null is always accepted).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int,),
    "logit_bias": (dict,),
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
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise _fail("top_logprobs", "requires logprobs to be true")
    user = body.get("user")
    if user is not None and len(user) > MAX_USER_CHARS:
        raise _fail("user", f"at most {MAX_USER_CHARS} characters")
    metadata = body.get("metadata")
    if metadata:
        _check_metadata(metadata)
    bias = body.get("logit_bias")
    if isinstance(bias, dict) and not all(
        isinstance(v, int | float) and not isinstance(v, bool) and -100 <= v <= 100 for v in bias.values()
    ):
        raise _fail("logit_bias", "values must be numbers between -100 and 100")


def _check_metadata(metadata: dict[str, Any]) -> None:
    """OpenAI's limits: up to 16 pairs, keys up to 64 characters, string values up to 512."""
    if len(metadata) > MAX_METADATA_PAIRS:
        raise _fail("metadata", f"at most {MAX_METADATA_PAIRS} key-value pairs")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise _fail("metadata", f"keys are at most {MAX_METADATA_KEY_CHARS} characters")
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_CHARS:
            raise _fail(
                f"metadata.{key}", f"must be a string of at most {MAX_METADATA_VALUE_CHARS} characters"
            )


_JSON_NAMES = {int: "an integer", dict: "an object", str: "a string", bool: "a boolean"}
