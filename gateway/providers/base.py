"""The contract between the request handler and the provider adapters.

The handler speaks OpenAI chat-completions; each adapter translates one call to its provider's API and
back, and reports usage, finish reason and errors in one provider-neutral shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

_ERROR_TYPES = {
    400: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass
class Usage:
    """Token counts in the OpenAI convention: prompt_tokens includes cached and cache-write tokens.

    ``estimated`` is True when a stream ended before the provider reported its usage (client disconnect,
    upstream error, idle timeout) and the gateway filled in the missing figures: prompt tokens counted from
    the request, completion tokens counted from the text and tool-call arguments received. Figures the
    provider did report are never replaced. It is not part of the OpenAI usage object sent to clients.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


class UpstreamError(Exception):
    """A provider failure (or a request the provider cannot take), already mapped to our HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        retryable: bool | None = None,
        param: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        self.retryable = (status == 429 or status >= 500) if retryable is None else retryable
        self.param = param
        self.provider = provider

    def to_body(self) -> dict[str, Any]:
        """The error body; the openai SDK picks its exception class from the HTTP status we send with it."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "type": _ERROR_TYPES.get(
                self.status, "api_error" if self.status >= 500 else "invalid_request_error"
            ),
        }
        if self.param is not None:
            error["param"] = self.param
        details = {
            key: value
            for key, value in (
                ("field", self.param),
                ("provider", self.provider),
                ("upstream_status", self.upstream_status),
                ("retry_after", self.retry_after),
            )
            if value is not None
        }
        if details:
            error["details"] = details
        return {"error": error}

    def __repr__(self) -> str:
        return f"UpstreamError({self.status}, {self.code!r}, {self.message!r})"


@dataclass
class UpstreamCall:
    """What the handler passes in."""

    request: dict[str, Any]  # the client's OpenAI chat request (validated; never mutated here)
    upstream_model: str
    public_model: str
    api_key: str
    default_max_tokens: int
    reasoning_model: bool
    response_id: str
    created: int

    @property
    def include_usage(self) -> bool:
        options = self.request.get("stream_options") or {}
        return bool(options.get("include_usage"))


@dataclass
class Completion:
    body: dict[str, Any]
    usage: Usage = field(default_factory=Usage)


class ChatStream(Protocol):
    """Async iterator of ready-to-send SSE frames in the OpenAI chunk format (see docs/providers.md)."""

    usage: Usage
    finish_reason: str | None
    error: UpstreamError | None
    first_token_at: float | None

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class ProviderAdapter(Protocol):
    name: str

    async def complete(self, call: UpstreamCall) -> Completion: ...

    async def open_stream(self, call: UpstreamCall) -> ChatStream: ...

    async def verify_key(self, api_key: str) -> bool: ...

    async def aclose(self) -> None: ...
