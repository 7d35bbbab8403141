"""Helpers shared by the request translators: system prompts, content parts, tool arguments, JSON mode."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.providers.base import UpstreamError

SYSTEM_ROLES = frozenset({"system", "developer"})

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)


def unsupported(message: str, param: str | None = None) -> UpstreamError:
    """A request this provider cannot take: rejected before any upstream call."""
    return UpstreamError(400, "unsupported_parameter", message, retryable=False, param=param)


def content_text(content: Any) -> str:
    """The text of a message's content (string, or a list of text/refusal parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = []
    for part in content:
        if isinstance(part, dict):
            if part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif part.get("type") == "refusal":
                pieces.append(str(part.get("refusal", "")))
    return "".join(pieces)


def system_text(messages: list[dict[str, Any]], extra: str | None = None) -> str:
    """Every system/developer message, wherever it sits, joined in order with blank lines (none is lost)."""
    texts = [content_text(m.get("content")) for m in messages if m.get("role") in SYSTEM_ROLES]
    if extra:
        texts.append(extra)
    return "\n\n".join(t for t in texts if t)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL, or None for other URLs."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        raise unsupported("Image data URLs must be base64 encoded", "messages")
    media_type = header[: -len(";base64")] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise unsupported("Image data URL is not valid base64", "messages") from None
    return media_type, data


def image_url_of(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise unsupported("image_url part without a url", "messages")
    return url


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as an object; providers require one. Non-objects are wrapped as {"value": …}."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str | bytes) else arguments
    except orjson.JSONDecodeError:
        return {"value": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def json_mode_instruction(response_format: Any) -> str | None:
    """The system instruction used where a provider has no JSON mode of its own."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema")
        if schema is None:
            return JSON_OBJECT_INSTRUCTION
        return (
            "Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else "
            f"(no prose, no code fences): {dumps_str(schema)}"
        )
    return None


def stop_sequences(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    items = [stop] if isinstance(stop, str) else list(stop)
    return [s for s in items if isinstance(s, str) and s] or None


def max_output_tokens(request: dict[str, Any]) -> int | None:
    value = request.get("max_completion_tokens")
    if value is None:
        value = request.get("max_tokens")
    return int(value) if value is not None else None


def tool_call_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    """tool_call id → function name, from every assistant turn."""
    names: dict[str, str] = {}
    for message in messages:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                if call.get("id") and function.get("name"):
                    names[call["id"]] = function["name"]
    return names


def new_message(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An OpenAI assistant message; content is null when the turn is only tool calls."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if (tool_calls and not content) else (content or ""),
        "refusal": None,
        "annotations": [],
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def completion_body(
    call_id: str, created: int, model: str, choices: list[dict[str, Any]], usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": call_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
        "system_fingerprint": None,
    }
