"""A cached answer, independent of how it was first delivered, and its two renderings.

The entry stores the choices as complete messages, so an answer first streamed can be served to a
non-streaming request and the other way round. ``StreamCollector`` rebuilds those messages from the
chunk frames while they pass through to the client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import orjson

from gateway.providers.base import Usage
from gateway.providers.chunks import DONE_FRAME, frame

FORMAT_VERSION = 1


@dataclass
class CachedAnswer:
    model: str
    provider: str
    choices: list[dict[str, Any]]  # OpenAI choices: {index, message, finish_reason, logprobs}
    usage: Usage
    cost_usd: Decimal  # what the original answer cost: the saving of every hit
    system_fingerprint: str | None = None

    def dumps(self) -> bytes:
        return orjson.dumps({
            "v": FORMAT_VERSION,
            "model": self.model,
            "provider": self.provider,
            "choices": self.choices,
            "usage": asdict(self.usage),
            "cost_usd": str(self.cost_usd),
            "system_fingerprint": self.system_fingerprint,
        })

    @classmethod
    def loads(cls, raw: bytes) -> CachedAnswer | None:
        """None for anything unreadable (an older format, a truncated value)."""
        try:
            data = orjson.loads(raw)
            if data.get("v") != FORMAT_VERSION:
                return None
            return cls(
                model=data["model"], provider=data["provider"], choices=data["choices"],
                usage=Usage(**data["usage"]), cost_usd=Decimal(data["cost_usd"]),
                system_fingerprint=data.get("system_fingerprint"),
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError):
            return None

    def completion_body(self, response_id: str, created: int) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "chat.completion",
            "created": created,
            "model": self.model,
            "choices": self.choices,
            "usage": self.usage.to_openai(),
            "system_fingerprint": self.system_fingerprint,
        }

    def frames(self, response_id: str, created: int, include_usage: bool) -> list[bytes]:
        """The answer as an SSE stream in the adapters' chunk format, ending with ``[DONE]``."""

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload: dict[str, Any] = {
                "id": response_id, "object": "chat.completion.chunk", "created": created,
                "model": self.model, "system_fingerprint": self.system_fingerprint,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }  # fmt: skip
            if include_usage:
                payload["usage"] = None
            return frame(payload)

        out = []
        for choice in self.choices:
            index = choice.get("index", 0)
            message = choice.get("message") or {}
            out.append(chunk(index, {"role": "assistant", "content": message.get("content") or ""}))
            if message.get("refusal"):
                out.append(chunk(index, {"refusal": message["refusal"]}))
            for position, call in enumerate(message.get("tool_calls") or []):
                out.append(chunk(index, {"tool_calls": [{"index": position, **call}]}))
            out.append(chunk(index, {}, choice.get("finish_reason")))
        if include_usage:
            out.append(frame({
                "id": response_id, "object": "chat.completion.chunk", "created": created, "model": self.model,
                "system_fingerprint": self.system_fingerprint, "choices": [], "usage": self.usage.to_openai(),
            }))  # fmt: skip
        out.append(DONE_FRAME)
        return out


class StreamCollector:
    """Accumulates chunk frames into complete choices; gives up (``broken``) on anything unexpected."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.broken = False
        self.system_fingerprint: str | None = None
        self._choices: dict[int, dict[str, Any]] = {}

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            self.broken = True
            return
        for event in data.split(b"\n\n"):
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._line(line[5:].strip())

    def _line(self, payload: bytes) -> None:
        if not payload or payload == b"[DONE]":
            return
        try:
            chunk = orjson.loads(payload)
            if "error" in chunk:
                self.broken = True
                return
            self.system_fingerprint = chunk.get("system_fingerprint") or self.system_fingerprint
            for choice in chunk.get("choices") or []:
                self._merge(choice)
        except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError):
            self.broken = True

    def _merge(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        state = self._choices.setdefault(
            index, {"content": [], "refusal": [], "tool_calls": {}, "finish_reason": None}
        )
        delta = choice.get("delta") or {}
        if delta.get("content"):
            state["content"].append(delta["content"])
        if delta.get("refusal"):
            state["refusal"].append(delta["refusal"])
        for call in delta.get("tool_calls") or []:
            empty = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            slot = state["tool_calls"].setdefault(call.get("index", 0), empty)
            if call.get("id"):
                slot["id"] = call["id"]
            function = call.get("function") or {}
            if function.get("name"):
                slot["function"]["name"] = function["name"]
            if function.get("arguments"):
                slot["function"]["arguments"] += function["arguments"]
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]

    def choices(self) -> list[dict[str, Any]] | None:
        """The complete choices, or None if the stream was unusable or did not finish every choice."""
        if self.broken or not self._choices:
            return None
        out = []
        for index in sorted(self._choices):
            state = self._choices[index]
            if state["finish_reason"] is None:
                return None
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(state["content"]) if state["content"] or not state["tool_calls"] else None,
                "refusal": "".join(state["refusal"]) or None,
            }
            if state["tool_calls"]:
                message["tool_calls"] = [state["tool_calls"][i] for i in sorted(state["tool_calls"])]
            out.append({"index": index, "message": message, "logprobs": None,
                        "finish_reason": state["finish_reason"]})
        return out
