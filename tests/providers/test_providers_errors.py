"""Upstream failures → our status, code and body; the openai SDK raises the matching exception class."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from gateway.providers import ADAPTER_CLASSES
from gateway.providers.base import UpstreamError
from gateway.providers.errors import error_from_exception, parse_retry_after, redact
from gateway.settings import ProviderConfig
from tests.providers.provider_helpers import make_call

BASE_URLS = {"openai": "http://up.test/v1", "anthropic": "http://up.test", "google": "http://up.test"}
PROVIDERS = ["openai", "anthropic", "google"]
SECRET = "sk-live-SECRET-0123456789abcdef"


def error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        kind = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(
            status, "api_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}
    if provider == "google":
        return {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}}
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def adapter_returning(provider: str, status: int, body: Any, headers: dict[str, str] | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers or {}, content=orjson.dumps(body))

    config = ProviderConfig(provider, BASE_URLS[provider], "")
    return ADAPTER_CLASSES[provider](
        config, connect_timeout=1, idle_timeout=1, transport=httpx.MockTransport(handler)
    )


CALL_REQUEST = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("status", "headers", "expected_status", "code", "retryable", "retry_after"),
    [
        (400, {}, 400, "upstream_bad_request", False, None),
        (401, {}, 502, "provider_auth_error", True, None),
        (403, {}, 502, "provider_auth_error", True, None),
        (404, {}, 502, "upstream_error", True, None),
        (429, {"retry-after": "7"}, 429, "rate_limited", True, 7.0),
        (500, {}, 502, "upstream_error", True, None),
        (502, {}, 502, "upstream_error", True, None),
        (503, {}, 503, "upstream_unavailable", True, None),
        (504, {}, 504, "timeout", True, None),
        (529, {}, 503, "upstream_overloaded", True, None),
    ],
)
async def test_status_mapping(
    provider: str,
    streaming: bool,
    status: int,
    headers: dict[str, str],
    expected_status: int,
    code: str,
    retryable: bool,
    retry_after: float | None,
) -> None:
    adapter = adapter_returning(
        provider, status, error_body(provider, status, f"bad thing with {SECRET}"), headers
    )
    call = make_call(CALL_REQUEST, api_key=SECRET)
    with pytest.raises(UpstreamError) as info:
        if streaming:
            await adapter.open_stream(call)
        else:
            await adapter.complete(call)
    await adapter.aclose()
    err = info.value
    assert (err.status, err.code, err.retryable, err.retry_after, err.upstream_status) == (
        expected_status,
        code,
        retryable,
        retry_after,
        status,
    )
    assert SECRET not in err.message and "SECRET" not in orjson.dumps(err.to_body()).decode()
    if status == 400:
        assert "bad thing with" in err.message  # the provider's own explanation reaches the caller


@pytest.mark.anyio
async def test_gemini_invalid_key_is_an_auth_error_not_a_bad_request() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    adapter = adapter_returning("google", 400, body)
    with pytest.raises(UpstreamError) as info:
        await adapter.complete(make_call(CALL_REQUEST))
    assert (info.value.status, info.value.code) == (502, "provider_auth_error")
    assert await adapter.verify_key("AIzaSyWRONG") is False
    await adapter.aclose()


@pytest.mark.anyio
async def test_gemini_retry_delay_from_body() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    adapter = adapter_returning("google", 429, body)
    with pytest.raises(UpstreamError) as info:
        await adapter.complete(make_call(CALL_REQUEST))
    assert info.value.retry_after == 12.0
    await adapter.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_verify_key(provider: str) -> None:
    ok = adapter_returning(provider, 200, {"data": [], "models": []})
    assert await ok.verify_key("k") is True
    rejected = adapter_returning(provider, 401, error_body(provider, 401, "bad key"))
    assert await rejected.verify_key("k") is False
    down = adapter_returning(provider, 500, {})
    with pytest.raises(UpstreamError) as info:
        await down.verify_key("k")
    assert (info.value.status, info.value.code) == (503, "upstream_unavailable")
    for adapter in (ok, rejected, down):
        await adapter.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unreachable_upstream(provider: str) -> None:
    base = "http://127.0.0.1:19399" + ("/v1" if provider == "openai" else "")  # nothing listens there
    adapter = ADAPTER_CLASSES[provider](ProviderConfig(provider, base, ""), connect_timeout=1, idle_timeout=1)
    with pytest.raises(UpstreamError) as info:
        await adapter.open_stream(make_call(CALL_REQUEST))
    assert (info.value.status, info.value.code, info.value.retryable) == (503, "upstream_unavailable", True)
    with pytest.raises(UpstreamError) as info:
        await adapter.verify_key("k")
    assert info.value.code == "upstream_unavailable"
    await adapter.aclose()


def test_timeouts_map_to_504() -> None:
    err = error_from_exception("anthropic", httpx.ReadTimeout("read timed out"))
    assert (err.status, err.code, err.retryable) == (504, "timeout", True)


@pytest.mark.parametrize(
    ("status", "code", "sdk_error"),
    [
        (400, "upstream_bad_request", openai.BadRequestError),
        (429, "rate_limited", openai.RateLimitError),
        (502, "provider_auth_error", openai.InternalServerError),
        (503, "upstream_overloaded", openai.InternalServerError),
        (504, "timeout", openai.InternalServerError),
    ],
)
def test_openai_sdk_raises_the_matching_class(status: int, code: str, sdk_error: type[Exception]) -> None:
    err = UpstreamError(
        status, code, "explained", retry_after=7 if status == 429 else None, upstream_status=status
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=orjson.dumps(err.to_body()), headers={"content-type": "application/json"}
        )

    client = openai.OpenAI(
        api_key="gw-key",
        base_url="http://gw.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(sdk_error) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.code == code  # type: ignore[attr-defined]
    assert "explained" in str(info.value)


def test_retry_after_parsing_and_redaction() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert redact("key AIzaSyA1234567890abcdef and sk-ant-api03-xyzxyz and mine", "mine") == (
        "key [redacted] and [redacted] and [redacted]"
    )
