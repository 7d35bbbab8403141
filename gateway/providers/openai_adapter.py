"""OpenAI: near pass-through. Our id/model/created replace the upstream's; usage is always requested."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.providers.base import Completion, UpstreamCall, UpstreamError, Usage
from gateway.providers.chunks import DONE_FRAME, frame
from gateway.providers.errors import error_from_stream_payload
from gateway.providers.http_adapter import HttpAdapter
from gateway.providers.sse import SSEEvent
from gateway.providers.usage_estimate import StreamTally

# Chat-completions parameters forwarded as they are; anything else in the request is not sent.
PASS_THROUGH = frozenset(
    {
        "messages",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "presence_penalty",
        "response_format",
        "seed",
        "stop",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "reasoning_effort",
        "service_tier",
        "modalities",
        "audio",
        "prediction",
        "metadata",
        "store",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)
# Reasoning models reject these (a non-default value is a 400), so they are not sent.
REASONING_DROPPED = frozenset(
    {
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
    }
)


def tool_results_first(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move system/developer messages that sit between an assistant's tool calls and their results to
    just after those results: OpenAI requires the results immediately after the calls. No text is lost."""
    out: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    pending: set[str] = set()
    for message in messages:
        role = message.get("role")
        if pending and role in ("system", "developer"):
            held.append(message)
            continue
        if pending and role == "tool":
            pending.discard(message.get("tool_call_id", ""))
            out.append(message)
            if not pending:
                out.extend(held)
                held = []
            continue
        out.extend(held)
        held = []
        pending = set()
        out.append(message)
        if role == "assistant" and message.get("tool_calls"):
            pending = {c.get("id", "") for c in message["tool_calls"]}
    out.extend(held)
    return out


def build_openai_request(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    request = call.request
    body: dict[str, Any] = {"model": call.upstream_model}
    for key, value in request.items():
        if key in PASS_THROUGH and value is not None:
            body[key] = value
    if "messages" in body:
        body["messages"] = tool_results_first(body["messages"])
    if call.reasoning_model:
        for key in REASONING_DROPPED:
            body.pop(key, None)
        max_tokens = body.pop("max_tokens", None)
        if max_tokens is not None and "max_completion_tokens" not in body:
            body["max_completion_tokens"] = max_tokens
    if stream:
        body["stream"] = True
        options = dict(request.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    return body


def usage_from_openai(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


def openai_completion(call: UpstreamCall, data: dict[str, Any]) -> Completion:
    body = dict(data)
    body["id"] = call.response_id
    body["model"] = call.public_model
    body["created"] = call.created
    body.setdefault("object", "chat.completion")
    return Completion(body=body, usage=usage_from_openai(data.get("usage")))


class OpenAIStreamTranslator:
    """Re-stamps each upstream chunk; hides the usage chunk from clients that did not ask for it."""

    def __init__(self, call: UpstreamCall, provider: str = "openai", api_key: str | None = None) -> None:
        self._call = call
        self._provider = provider
        self._api_key = api_key
        self._include_usage = call.include_usage
        self.usage = Usage()
        self.tally = StreamTally(call.request)
        self.done = False
        self.first_token_at: float | None = None
        self._finish_reasons: dict[int, str] = {}

    @property
    def finish_reason(self) -> str | None:
        reasons = self._finish_reasons
        return reasons.get(0) or next(iter(reasons.values()), None)

    def on_event(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == "[DONE]":
            self.done = True
            return [DONE_FRAME]
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(payload, dict):
            return []
        if "error" in payload:
            raise error_from_stream_payload(self._provider, payload, self._api_key)
        call = self._call
        payload["id"] = call.response_id
        payload["model"] = call.public_model
        payload["created"] = call.created
        choices = payload.get("choices") or []
        usage = payload.get("usage")
        if usage:
            self.usage = usage_from_openai(usage)
            self.tally.prompt_reported = self.tally.completion_reported = True
        for choice in choices:
            delta = choice.get("delta") or {}
            content, tool_calls, refusal = delta.get("content"), delta.get("tool_calls"), delta.get("refusal")
            if content or tool_calls or refusal:
                if self.first_token_at is None:
                    self.first_token_at = time.monotonic()
                self._tally_delta(content, tool_calls, refusal)
            if choice.get("finish_reason"):
                self._finish_reasons[int(choice.get("index") or 0)] = choice["finish_reason"]
        if self._include_usage:
            payload.setdefault("usage", None)
        else:
            if not choices and usage:
                return []
            payload.pop("usage", None)
        return [frame(payload)]

    def _tally_delta(self, content: Any, tool_calls: Any, refusal: Any) -> None:
        tally = self.tally
        if isinstance(content, str):
            tally.add(content)
        if isinstance(refusal, str):
            tally.add(refusal)
        for call in tool_calls or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    if isinstance(function.get(key), str):
                        tally.add(function[key])

    def on_eof(self) -> list[bytes]:
        raise UpstreamError(
            502, "upstream_error", f"{self._provider} stream ended before completion", provider=self._provider
        )


class OpenAIAdapter(HttpAdapter):
    name = "openai"
    models_path = "/models"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def build_request(self, call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, Any]]:
        return "/chat/completions", build_openai_request(call, stream=stream)

    def completion_from(self, call: UpstreamCall, data: dict[str, Any]) -> Completion:
        return openai_completion(call, data)

    def translator(self, call: UpstreamCall) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(call, self.name, call.api_key or self.default_api_key)
