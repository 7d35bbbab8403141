"""Map provider failures (HTTP statuses, error bodies, stream errors, transport errors) to UpstreamError.

The table is documented in docs/providers.md. Messages are the provider's own where that helps the caller
(bad requests), with every key-like string removed; credential failures never echo the provider's text.
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any

import httpx
import orjson

from gateway.providers.base import UpstreamError

_KEY_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|sim-[A-Za-z0-9_\-]{3,})")
_MAX_MESSAGE = 1000

# Anthropic names its errors by type; in a stream that type is all we get.
ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_GOOGLE_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"}


def redact(text: str, api_key: str | None = None) -> str:
    """Remove the key (and anything that looks like a provider key) from a message."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _google_retry_delay(error: dict[str, Any]) -> float | None:
    for detail in error.get("details") or []:
        delay = isinstance(detail, dict) and detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def _is_google_key_error(error: dict[str, Any]) -> bool:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason") in _GOOGLE_AUTH_REASONS:
            return True
    return "API key not valid" in str(error.get("message", ""))


def error_for_status(
    provider: str,
    upstream_status: int,
    message: str,
    *,
    retry_after: float | None = None,
    api_key: str | None = None,
) -> UpstreamError:
    """The one status table every provider shares."""
    safe = redact(message, api_key)[:_MAX_MESSAGE] or f"{provider} returned HTTP {upstream_status}"
    common = {"upstream_status": upstream_status, "provider": provider}
    if upstream_status in (401, 403):
        return UpstreamError(
            502,
            "provider_auth_error",
            f"The {provider} provider rejected the API key used for it "
            "(your own key if you added one, otherwise the operator's)",
            retryable=True,
            **common,
        )
    if upstream_status == 429:
        return UpstreamError(
            429,
            "rate_limited",
            f"{provider} rate limit: {safe}",
            retry_after=retry_after,
            retryable=True,
            **common,
        )
    if upstream_status == 404:
        return UpstreamError(
            502, "upstream_error", f"{provider} does not serve this model: {safe}", retryable=True, **common
        )
    if upstream_status in (408, 504):
        return UpstreamError(504, "timeout", f"{provider} timed out", retryable=True, **common)
    if upstream_status == 529:
        return UpstreamError(
            503,
            "upstream_overloaded",
            f"{provider} is overloaded: {safe}",
            retry_after=retry_after,
            retryable=True,
            **common,
        )
    if upstream_status == 503:
        return UpstreamError(
            503,
            "upstream_unavailable",
            f"{provider} is unavailable: {safe}",
            retry_after=retry_after,
            retryable=True,
            **common,
        )
    if upstream_status >= 500 or upstream_status == 409:
        return UpstreamError(502, "upstream_error", f"{provider} error: {safe}", retryable=True, **common)
    return UpstreamError(400, "upstream_bad_request", safe, retryable=False, **common)


def error_from_body(
    provider: str, upstream_status: int, body: bytes, headers: httpx.Headers | None, api_key: str | None
) -> UpstreamError:
    """An error HTTP response (status >= 400) from any of the three providers."""
    error: dict[str, Any] = {}
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # Google sometimes wraps the error in a one-element array
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error = parsed["error"]
    message = str(error.get("message") or body[:300].decode("utf-8", errors="replace").strip())
    retry_after = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    if provider == "google":
        if upstream_status == 400 and _is_google_key_error(error):
            upstream_status = 401
        if retry_after is None:
            retry_after = _google_retry_delay(error)
    return error_for_status(provider, upstream_status, message, retry_after=retry_after, api_key=api_key)


def error_from_stream_payload(provider: str, payload: dict[str, Any], api_key: str | None) -> UpstreamError:
    """An error inside a stream (Anthropic ``event: error``, an OpenAI/Google ``{"error": …}`` frame)."""
    error = payload.get("error") if isinstance(payload.get("error"), dict) else payload
    message = str(error.get("message") or "stream error")
    status = error.get("code") if isinstance(error.get("code"), int) else None
    if status is None:
        status = ANTHROPIC_ERROR_STATUS.get(str(error.get("type")), 500)
        if str(error.get("type")) == "invalid_request_error":
            status = 400
    return error_for_status(provider, status, message, api_key=api_key)


def error_from_exception(provider: str, exc: Exception) -> UpstreamError:
    """Transport failures; the exception text is never shown (it may carry the URL)."""
    if isinstance(exc, httpx.TimeoutException):
        phase = (
            "connecting to" if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else "waiting for"
        )
        return UpstreamError(
            504, "timeout", f"Timed out {phase} {provider}", retryable=True, provider=provider
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            503, "upstream_unavailable", f"Could not connect to {provider}", retryable=True, provider=provider
        )
    return UpstreamError(
        502, "upstream_unavailable", f"Connection to {provider} failed", retryable=True, provider=provider
    )
