"""OpenAI ``chat.completion.chunk`` frames, serialised once each, ready to write to the client."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.providers.base import UpstreamCall, UpstreamError, Usage

DONE_FRAME = b"data: [DONE]\n\n"


def frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_frame(error: UpstreamError) -> bytes:
    return frame(error.to_body())


class ChunkWriter:
    """Builds the chunks of one response; tracks first token time and each choice's finish reason."""

    __slots__ = (
        "created",
        "finish_reasons",
        "first_token_at",
        "id",
        "include_usage",
        "model",
        "received",
        "roles_sent",
    )

    def __init__(self, call: UpstreamCall) -> None:
        self.id = call.response_id
        self.created = call.created
        self.model = call.public_model
        self.include_usage = call.include_usage
        self.first_token_at: float | None = None
        self.finish_reasons: dict[int, str] = {}
        self.roles_sent: set[int] = set()
        self.received: list[str] = []  # text and tool-call arguments sent, for usage estimates

    def _chunk(self, choices: list[dict[str, Any]]) -> bytes:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            payload["usage"] = None
        return frame(payload)

    def role(self, index: int = 0) -> bytes:
        self.roles_sent.add(index)
        return self._chunk(
            [
                {
                    "index": index,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )

    def delta(self, delta: dict[str, Any], index: int = 0) -> bytes:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        return self._chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}])

    def text(self, text: str, index: int = 0) -> bytes:
        self.received.append(text)
        return self.delta({"content": text}, index)

    def tool_call_start(
        self, tool_index: int, call_id: str, name: str, arguments: str = "", index: int = 0
    ) -> bytes:
        self.received.append(name)
        self.received.append(arguments)
        return self.delta(
            {
                "tool_calls": [
                    {
                        "index": tool_index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ]
            },
            index,
        )

    def tool_call_arguments(self, tool_index: int, arguments: str, index: int = 0) -> bytes:
        self.received.append(arguments)
        return self.delta(
            {"tool_calls": [{"index": tool_index, "function": {"arguments": arguments}}]}, index
        )

    def finish(self, finish_reason: str, index: int = 0) -> bytes:
        self.finish_reasons[index] = finish_reason
        return self._chunk([{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish_reason}])

    def usage(self, usage: Usage) -> bytes:
        """The closing usage chunk (only sent when the client asked for it)."""
        return frame(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage.to_openai(),
            }
        )

    def closing(self, usage: Usage) -> list[bytes]:
        frames = [self.usage(usage)] if self.include_usage else []
        frames.append(DONE_FRAME)
        return frames
