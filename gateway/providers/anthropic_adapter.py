"""Anthropic Messages API ⇄ OpenAI chat completions (rules in docs/providers.md)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.anthropic_json import ResponseTool, response_tool, response_tool_choice
from gateway.providers.base import Completion, UpstreamCall, UpstreamError, Usage
from gateway.providers.errors import error_from_stream_payload
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
    unsupported,
)
from gateway.providers.sse import SSEEvent
from gateway.providers.stream import ChunkWritingTranslator

ANTHROPIC_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """User/assistant content as Anthropic blocks; empty text is never sent (Anthropic rejects it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append(_text_block(part["text"]))
        elif kind == "refusal":
            if part.get("refusal"):
                blocks.append(_text_block(part["refusal"]))
        elif kind == "image_url":
            url = image_url_of(part)
            data_url = parse_data_url(url)
            if data_url is not None:
                media_type, data = data_url
                blocks.append(
                    {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
                )
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            raise unsupported(f"Content part type {kind!r} is not supported by this model", "messages")
    return blocks


def _tool_result_block(message: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", "")}
    text = content_text(message.get("content"))
    if text:
        block["content"] = text
    return block


def _tool_use_blocks(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks = []
    for call in tool_calls:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return blocks


def anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversation turns: system messages removed, tool results as user turns, same-role turns merged."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            continue
        if role == "tool":
            upstream_role, blocks = "user", [_tool_result_block(message)]
        elif role == "assistant":
            upstream_role = "assistant"
            blocks = _content_blocks(message.get("content")) + _tool_use_blocks(
                message.get("tool_calls") or []
            )
        elif role == "user":
            upstream_role, blocks = "user", _content_blocks(message.get("content"))
        else:
            raise unsupported(f"Message role {role!r} is not supported", "messages")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == upstream_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": upstream_role, "content": blocks})
    return turns


def _has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    return any(block["type"] in ("tool_use", "tool_result") for turn in turns for block in turn["content"])


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    """OpenAI tool_choice (+ parallel_tool_calls) as Anthropic's; None when nothing needs saying."""
    if choice == "none":
        return {"type": "none"}
    if choice is None or choice == "auto":
        result: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        result = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        raise unsupported(f"tool_choice {choice!r} is not supported", "tool_choice")
    if parallel is False:
        result["disable_parallel_tool_use"] = True
    elif choice is None:
        return None
    return result


def build_anthropic_request(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    request = call.request
    if (request.get("n") or 1) > 1:
        raise unsupported("This model returns one choice per request: n must be 1", "n")
    messages = request.get("messages") or []
    turns = anthropic_messages(messages)
    body: dict[str, Any] = {
        "model": call.upstream_model,
        "max_tokens": max_output_tokens(request) or call.default_max_tokens,
        "messages": turns,
    }
    system = "\n\n".join(
        t for t in (content_text(m.get("content")) for m in messages if m.get("role") in SYSTEM_ROLES) if t
    )
    json_tool = response_tool(request.get("response_format"))
    instruction = None if json_tool else json_mode_instruction(request.get("response_format"))
    if instruction:
        system = f"{system}\n\n{instruction}" if system else instruction
    if system:
        body["system"] = system
    stops = stop_sequences(request.get("stop"))
    if stops:
        body["stop_sequences"] = stops
    temperature = request.get("temperature")
    if temperature is not None:
        body["temperature"] = min(1.0, max(0.0, float(temperature)))
    elif request.get("top_p") is not None:  # current models take one of temperature / top_p, not both
        body["top_p"] = request["top_p"]
    tools = request.get("tools") or []
    choice = request.get("tool_choice")
    if tools and not (choice == "none" and not _has_tool_blocks(turns)):
        body["tools"] = [
            {
                "name": function.get("name", ""),
                **({"description": function["description"]} if function.get("description") else {}),
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
            for function in (tool.get("function") or {} for tool in tools)
        ]
        anthropic_choice = _tool_choice(choice, request.get("parallel_tool_calls"))
        if anthropic_choice is not None:
            body["tool_choice"] = anthropic_choice
    if json_tool is not None:
        client_tools_sent = "tools" in body
        body["tools"] = [*body.get("tools", []), json_tool.definition()]
        body["tool_choice"] = response_tool_choice(json_tool, client_tools_sent, choice)
    if request.get("user"):
        body["metadata"] = {"user_id": str(request["user"])}
    if stream:
        body["stream"] = True
    return body


def usage_from_anthropic(raw: dict[str, Any] | None, usage: Usage | None = None) -> Usage:
    """Apply the figures present in ``raw`` (values are cumulative: they replace, never add)."""
    usage = usage or Usage()
    if not raw:
        return usage
    input_tokens = raw.get("input_tokens")
    cache_read = raw.get("cache_read_input_tokens")
    cache_write = raw.get("cache_creation_input_tokens")
    if cache_read is not None:
        usage.cached_tokens = int(cache_read)
    if cache_write is not None:
        usage.cache_write_tokens = int(cache_write)
    if input_tokens is not None or cache_read is not None or cache_write is not None:
        base = (
            input_tokens
            if input_tokens is not None
            else (usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
        )
        usage.prompt_tokens = int(base or 0) + usage.cached_tokens + usage.cache_write_tokens
    if raw.get("output_tokens") is not None:
        usage.completion_tokens = int(raw["output_tokens"])
    details = raw.get("output_tokens_details") or {}
    if details.get("thinking_tokens") is not None:
        usage.reasoning_tokens = int(details["thinking_tokens"])
    return usage


def _finish_reason(stop_reason: str | None, *, answered_in_json: bool) -> str:
    """The JSON-mode tool call is the answer itself: it finishes with "stop", not "tool_calls"."""
    if answered_in_json and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def anthropic_completion(call: UpstreamCall, data: dict[str, Any]) -> Completion:
    json_tool = response_tool(call.request.get("response_format"))
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    answer: str | None = None
    for block in data.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use" and json_tool and block.get("name") == json_tool.name:
            answer = dumps_str(block.get("input") or {})
        elif block.get("type") == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": dumps_str(block.get("input") or {}),
                    },
                }
            )
    usage = usage_from_anthropic(data.get("usage"))
    finish_reason = _finish_reason(
        data.get("stop_reason"), answered_in_json=answer is not None and not tool_calls
    )
    choice = {
        "index": 0,
        "message": new_message("".join(texts) if answer is None else answer, tool_calls),
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    body = completion_body(call.response_id, call.created, call.public_model, [choice], usage.to_openai())
    return Completion(body=body, usage=usage)


class AnthropicStreamTranslator(ChunkWritingTranslator):
    """message_start → role; text/tool deltas → chunks; message_delta → finish; message_stop → [DONE]."""

    def __init__(self, call: UpstreamCall, api_key: str | None = None) -> None:
        super().__init__(call, api_key)
        self._tool_index_by_block: dict[int, int] = {}
        self._json_tool: ResponseTool | None = response_tool(call.request.get("response_format"))
        self._json_block: int | None = None  # the content block holding the JSON-mode answer
        self._json_sent = False
        self._started = False

    def on_event(self, event: SSEEvent) -> list[bytes]:
        name = event.event
        if name == "ping":
            return []
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return []
        kind = payload.get("type", name) if isinstance(payload, dict) else name
        out = self._out
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                return [out.text(delta.get("text", ""))] if delta.get("text") else []
            if delta_type == "input_json_delta":
                if self._json_block is not None and payload.get("index") == self._json_block:
                    return self._json_text(delta.get("partial_json", ""))
                tool_index = self._tool_index_by_block.get(payload.get("index", -1))
                partial = delta.get("partial_json", "")
                if tool_index is None or not partial:
                    return []
                return [out.tool_call_arguments(tool_index, partial)]
            if delta_type == "thinking_delta":  # not forwarded, but billed as output
                self.tally.add(delta.get("thinking"))
            return []  # thinking and signature deltas are not forwarded
        if kind == "content_block_start":
            block = payload.get("content_block") or {}
            if (
                block.get("type") == "tool_use"
                and self._json_tool
                and block.get("name") == self._json_tool.name
            ):
                self._json_block = payload.get("index", -1)
                return []
            if block.get("type") == "tool_use":
                tool_index = len(self._tool_index_by_block)
                self._tool_index_by_block[payload.get("index", tool_index)] = tool_index
                return [out.tool_call_start(tool_index, block.get("id", ""), block.get("name", ""))]
            if block.get("type") == "text" and block.get("text"):
                return [out.text(block["text"])]
            return []
        if kind == "message_start":
            message = payload.get("message") or {}
            raw_usage = message.get("usage") or {}
            usage_from_anthropic(raw_usage, self.usage)
            # message_start's output_tokens is a count at the start (1), not the final one
            self.tally.prompt_reported = raw_usage.get("input_tokens") is not None
            self._started = True
            return [out.role()]
        if kind == "message_delta":
            raw_usage = payload.get("usage") or {}
            usage_from_anthropic(raw_usage, self.usage)
            if raw_usage.get("output_tokens") is not None:
                self.tally.completion_reported = True
            if raw_usage.get("input_tokens") is not None:
                self.tally.prompt_reported = True
            stop_reason = (payload.get("delta") or {}).get("stop_reason")
            if stop_reason:
                answered = self._json_block is not None and not self._tool_index_by_block
                return [out.finish(_finish_reason(stop_reason, answered_in_json=answered))]
            return []
        if kind == "message_stop":
            self.done = True
            frames = [] if 0 in out.finish_reasons else [out.finish("stop")]
            return frames + out.closing(self.usage)
        if kind == "content_block_stop":
            if (
                self._json_block is not None
                and payload.get("index") == self._json_block
                and not self._json_sent
            ):
                return self._json_text("{}")  # an empty input streams no partial JSON at all
            return []
        if kind == "error":
            raise error_from_stream_payload("anthropic", payload, self._api_key)
        return []  # unknown events

    def _json_text(self, partial: str) -> list[bytes]:
        """A piece of the JSON-mode tool input, sent as message content."""
        if not partial:
            return []
        self._json_sent = True
        return [self._out.text(partial)]

    def on_eof(self) -> list[bytes]:
        raise UpstreamError(
            502, "upstream_error", "anthropic stream ended before completion", provider="anthropic"
        )


class AnthropicAdapter(HttpAdapter):
    name = "anthropic"
    models_path = "/v1/models"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}

    def build_request(self, call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, Any]]:
        return "/v1/messages", build_anthropic_request(call, stream=stream)

    def completion_from(self, call: UpstreamCall, data: dict[str, Any]) -> Completion:
        return anthropic_completion(call, data)

    def translator(self, call: UpstreamCall) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(call, call.api_key or self.default_api_key)
