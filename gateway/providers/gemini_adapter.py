"""Google Gemini generateContent ⇄ OpenAI chat completions (rules in docs/providers.md).

The key travels only in the ``x-goog-api-key`` header, never in the URL.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson

from gateway.providers.base import Completion, UpstreamCall, UpstreamError, Usage
from gateway.providers.errors import error_from_stream_payload
from gateway.providers.gemini_schema import NotSimpleSchema, to_gemini_schema
from gateway.providers.http_adapter import HttpAdapter
from gateway.providers.messages import (
    SYSTEM_ROLES,
    completion_body,
    content_text,
    dumps_str,
    image_url_of,
    json_mode_instruction,
    max_output_tokens,
    new_message,
    parse_arguments,
    parse_data_url,
    stop_sequences,
    tool_call_names,
    unsupported,
)
from gateway.providers.sse import SSEEvent
from gateway.providers.stream import ChunkWritingTranslator

CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def gemini_finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


# -- request -----------------------------------------------------------------------------------------


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "refusal":
            if part.get("refusal"):
                parts.append({"text": part["refusal"]})
        elif kind == "image_url":
            data_url = parse_data_url(image_url_of(part))
            if data_url is None:
                raise unsupported("Gemini models take images as base64 data URLs only", "messages")
            parts.append({"inlineData": {"mimeType": data_url[0], "data": data_url[1]}})
        else:
            raise unsupported(f"Content part type {kind!r} is not supported by this model", "messages")
    return parts


def _function_response(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    name = names.get(message.get("tool_call_id", "")) or message.get("name")
    if not name:
        raise unsupported("A tool message answers a tool_call id that no assistant message made", "messages")
    text = content_text(message.get("content"))
    try:
        value: Any = orjson.loads(text) if text else ""
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def gemini_contents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = tool_call_names(messages)
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            continue
        if role == "user":
            upstream_role, parts = "user", _user_parts(message.get("content"))
        elif role == "assistant":
            upstream_role = "model"
            parts = _user_parts(message.get("content"))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                parts.append(
                    {
                        "functionCall": {
                            "name": function.get("name", ""),
                            "args": parse_arguments(function.get("arguments")),
                        }
                    }
                )
        elif role == "tool":
            upstream_role, parts = "user", [_function_response(message, names)]
        else:
            raise unsupported(f"Message role {role!r} is not supported", "messages")
        if not parts:
            continue
        if contents and contents[-1]["role"] == upstream_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": upstream_role, "parts": parts})
    return contents


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        config: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        config = {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name", "")]}
    else:
        raise unsupported(f"tool_choice {choice!r} is not supported", "tool_choice")
    return {"functionCallingConfig": config}


def _function_declaration(function: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": function.get("name", "")}
    if function.get("description"):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and parameters.get("properties"):
        try:
            declaration["parameters"] = to_gemini_schema(parameters)
        except NotSimpleSchema as exc:
            raise unsupported(
                f"Tool {declaration['name']!r}: parameters schema not supported ({exc})", "tools"
            ) from None
    return declaration


def build_gemini_request(call: UpstreamCall) -> dict[str, Any]:
    request = call.request
    messages = request.get("messages") or []
    body: dict[str, Any] = {"contents": gemini_contents(messages)}
    config: dict[str, Any] = {}
    extra_instruction = None
    response_format = request.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is not None:
            try:
                config["responseSchema"] = to_gemini_schema(schema)
            except NotSimpleSchema:
                extra_instruction = json_mode_instruction(response_format)
    system_texts = [content_text(m.get("content")) for m in messages if m.get("role") in SYSTEM_ROLES]
    system = "\n\n".join(t for t in [*system_texts, extra_instruction or ""] if t)
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    max_tokens = max_output_tokens(request)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if request.get("temperature") is not None:
        config["temperature"] = request["temperature"]
    if request.get("top_p") is not None:
        config["topP"] = request["top_p"]
    stops = stop_sequences(request.get("stop"))
    if stops:
        config["stopSequences"] = stops
    if (request.get("n") or 1) > 1:
        config["candidateCount"] = request["n"]
    if request.get("seed") is not None:
        config["seed"] = request["seed"]
    if config:
        body["generationConfig"] = config
    tools = request.get("tools") or []
    if tools:
        body["tools"] = [
            {"functionDeclarations": [_function_declaration(t.get("function") or {}) for t in tools]}
        ]
        tool_config = _tool_config(request.get("tool_choice"))
        if tool_config is not None:
            body["toolConfig"] = tool_config
    return body


# -- response ----------------------------------------------------------------------------------------


def usage_from_gemini(raw: dict[str, Any] | None) -> Usage:
    if not raw:
        return Usage()
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        prompt_tokens=int(raw.get("promptTokenCount") or 0) + int(raw.get("toolUsePromptTokenCount") or 0),
        cached_tokens=int(raw.get("cachedContentTokenCount") or 0),
        completion_tokens=int(raw.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
    )


def _candidate_parts(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(answer text without thoughts, function calls as OpenAI tool calls with fresh ids)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "functionCall" in part:
            function = part["functionCall"] or {}
            calls.append(
                {
                    "id": new_call_id(),
                    "type": "function",
                    "function": {
                        "name": function.get("name", ""),
                        "arguments": dumps_str(function.get("args") or {}),
                    },
                }
            )
        elif part.get("text") and not part.get("thought"):
            texts.append(part["text"])
    return "".join(texts), calls


def gemini_completion(call: UpstreamCall, data: dict[str, Any]) -> Completion:
    usage = usage_from_gemini(data.get("usageMetadata"))
    candidates = data.get("candidates") or []
    choices = []
    for position, candidate in enumerate(candidates):
        text, calls = _candidate_parts(candidate)
        choices.append(
            {
                "index": candidate.get("index", position),
                "message": new_message(text, calls),
                "logprobs": None,
                "finish_reason": gemini_finish_reason(candidate.get("finishReason"), bool(calls)),
            }
        )
    if not choices:
        if not (data.get("promptFeedback") or {}).get("blockReason"):
            raise UpstreamError(502, "upstream_error", "google returned no candidates", provider="google")
        choices = [
            {"index": 0, "message": new_message(""), "logprobs": None, "finish_reason": "content_filter"}
        ]
    choices.sort(key=lambda c: c["index"])
    body = completion_body(call.response_id, call.created, call.public_model, choices, usage.to_openai())
    return Completion(body=body, usage=usage)


class GeminiStreamTranslator(ChunkWritingTranslator):
    """Each SSE frame is a GenerateContentResponse; usage is the latest seen; the stream ends at EOF."""

    def __init__(self, call: UpstreamCall, api_key: str | None = None) -> None:
        super().__init__(call, api_key)
        self._tool_counts: dict[int, int] = {}

    def on_event(self, event: SSEEvent) -> list[bytes]:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(payload, dict):
            return []
        if "error" in payload:
            raise error_from_stream_payload("google", payload, self._api_key)
        metadata = payload.get("usageMetadata")
        if metadata:
            # Gemini's counts are cumulative on every chunk: they are the usage so far
            self.usage = usage_from_gemini(metadata)
            tally = self.tally
            tally.prompt_reported = tally.prompt_reported or "promptTokenCount" in metadata
            tally.completion_reported = tally.completion_reported or "candidatesTokenCount" in metadata
        out = self._out
        frames: list[bytes] = []
        candidates = payload.get("candidates") or []
        if not candidates and (payload.get("promptFeedback") or {}).get("blockReason"):
            if 0 not in out.finish_reasons:
                if 0 not in out.roles_sent:
                    frames.append(out.role(0))
                frames.append(out.finish("content_filter", 0))
            return frames
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            if index in out.finish_reasons:
                continue
            if index not in out.roles_sent:
                frames.append(out.role(index))
            for part in (candidate.get("content") or {}).get("parts") or []:
                if "functionCall" in part:
                    function = part["functionCall"] or {}
                    tool_index = self._tool_counts.get(index, 0)
                    self._tool_counts[index] = tool_index + 1
                    frames.append(
                        out.tool_call_start(
                            tool_index,
                            new_call_id(),
                            function.get("name", ""),
                            dumps_str(function.get("args") or {}),
                            index,
                        )
                    )
                elif part.get("text") and not part.get("thought"):
                    frames.append(out.text(part["text"], index))
            reason = candidate.get("finishReason")
            if reason:
                frames.append(out.finish(gemini_finish_reason(reason, index in self._tool_counts), index))
        return frames

    def on_eof(self) -> list[bytes]:
        out = self._out
        if not out.finish_reasons or set(out.roles_sent) - set(out.finish_reasons):
            raise UpstreamError(
                502, "upstream_error", "google stream ended before completion", provider="google"
            )
        self.done = True
        return out.closing(self.usage)


class GeminiAdapter(HttpAdapter):
    name = "google"
    models_path = "/v1beta/models"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def build_request(self, call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, Any]]:
        model = call.upstream_model.removeprefix("models/")
        if stream:
            return f"/v1beta/models/{model}:streamGenerateContent?alt=sse", build_gemini_request(call)
        return f"/v1beta/models/{model}:generateContent", build_gemini_request(call)

    def completion_from(self, call: UpstreamCall, data: dict[str, Any]) -> Completion:
        return gemini_completion(call, data)

    def translator(self, call: UpstreamCall) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(call, call.api_key or self.default_api_key)

    def rejects_key(self, response: httpx.Response) -> bool:
        if response.status_code in (401, 403):
            return True
        return response.status_code == 400 and b"API_KEY_INVALID" in response.content
