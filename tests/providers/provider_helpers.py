"""Shared builders for the provider adapter tests."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.base import UpstreamCall

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PNG_DATA_URL = f"data:image/png;base64,{PNG_B64}"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def make_call(request: dict[str, Any], **overrides: Any) -> UpstreamCall:
    values: dict[str, Any] = {
        "request": request,
        "upstream_model": "up-model",
        "public_model": "public-model",
        "api_key": "sim-valid-test-key",
        "default_max_tokens": 1024,
        "reasoning_model": False,
        "response_id": "chatcmpl-test123",
        "created": 1700000000,
    }
    values.update(overrides)
    return UpstreamCall(**values)


def parse_frames(frames: list[bytes]) -> list[Any]:
    """Each frame is exactly one `data: …\\n\\n`; returns the JSON payloads ("[DONE]" as a string)."""
    out = []
    for raw in frames:
        assert raw.startswith(b"data: ") and raw.endswith(b"\n\n"), raw
        body = raw[6:-2]
        assert b"\n" not in body
        out.append("[DONE]" if body == b"[DONE]" else orjson.loads(body))
    return out


def sse(event: str | None, data: Any) -> bytes:
    """One recorded upstream SSE event."""
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def content_of(chunks: list[Any], index: int = 0) -> str:
    return "".join(
        (c["choices"][0]["delta"].get("content") or "")
        for c in chunks
        if isinstance(c, dict) and c.get("choices") and c["choices"][0]["index"] == index
    )


def tool_calls_of(chunks: list[Any], index: int = 0) -> dict[int, dict[str, Any]]:
    """Assemble streamed tool calls the way the openai SDK does."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict) or not chunk.get("choices"):
            continue
        choice = chunk["choices"][0]
        if choice["index"] != index:
            continue
        for delta in choice["delta"].get("tool_calls") or []:
            slot = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
            if delta.get("id"):
                slot["id"] = delta["id"]
            function = delta.get("function") or {}
            if function.get("name"):
                slot["name"] = function["name"]
            slot["arguments"] += function.get("arguments") or ""
    return calls
