"""Rate limits over HTTP: shared by two gateway processes through Redis, the 429 the openai SDK sees,
the usage event of a refused request, /api limits, and fail-open when Redis stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest

from gateway import metrics
from infra.stack import LocalStack
from infra.stack.processes import pick_free_ports
from tests.conftest import RunningGateway, new_account, start_gateway

KEY_LIMIT = 5


def _sibling(gateway: RunningGateway, spool: Path, **overrides) -> RunningGateway:
    """Another gateway on the same stack; the session gateway keeps the one chdb engine and its loader."""
    settings = replace(
        gateway.state.settings, port=pick_free_ports(1)[0], run_consumer_in_process=False,
        spool_dir=spool, **overrides,
    )  # fmt: skip
    return start_gateway(settings)


@pytest.fixture(scope="module")
def pair(gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningGateway]]:
    """Two gateway processes' worth of app (each its own limiter) sharing Redis, 5 requests/min per key."""
    root = tmp_path_factory.mktemp("pair")
    started = []
    try:
        for name in ("a", "b"):
            started.append(_sibling(gateway, root / name, rate_limit_per_key=KEY_LIMIT))
        yield started
    finally:
        for running in started:
            running.stop()


def _models(base_url: str, key: str) -> httpx.Response:
    return httpx.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_the_key_limit_holds_across_two_gateways(pair: list[RunningGateway], api: httpx.Client) -> None:
    account = new_account(api)
    replies = [_models(pair[i % 2].base_url, account.gateway_key) for i in range(KEY_LIMIT + 3)]

    assert [r.status_code for r in replies] == [200] * KEY_LIMIT + [429] * 3
    assert [int(r.headers["x-ratelimit-remaining"]) for r in replies[:KEY_LIMIT]] == [4, 3, 2, 1, 0]
    assert all(r.headers["x-ratelimit-limit"] == str(KEY_LIMIT) for r in replies)
    now = time.time()
    assert all(now < int(r.headers["x-ratelimit-reset"]) <= now + 61 for r in replies)
    refused = replies[-1]
    assert 55 <= int(refused.headers["retry-after"]) <= 60  # until the first request is a minute old
    assert refused.json()["error"]["message"].startswith("Rate limit of 5 requests per minute exceeded")
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    # Another key from the same client is not affected.
    assert _models(pair[0].base_url, new_account(api).gateway_key).status_code == 200


def test_sdk_sees_rate_limit_error_and_a_usage_event_is_recorded(
    pair: list[RunningGateway], gateway: RunningGateway, api: httpx.Client
) -> None:
    account = new_account(api)
    for _ in range(KEY_LIMIT):
        assert _models(pair[1].base_url, account.gateway_key).status_code == 200
    client = openai.OpenAI(base_url=f"{pair[0].base_url}/v1", api_key=account.gateway_key, max_retries=0)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello"}])

    error = caught.value
    assert error.status_code == 429
    assert error.body["code"] == "rate_limited"
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-remaining"] == "0"
    request_id = headers["x-request-id"]
    found = gateway.wait_for_rows(
        "SELECT count() AS n FROM usage_events WHERE request_id = {r:String} AND status = 'rate_limited'"
        " AND http_status = 429 AND cost_usd = 0",
        {"r": request_id}, 1,
    )  # fmt: skip
    assert found == 1


def test_chat_responses_carry_rate_limit_headers(pair: list[RunningGateway], api: httpx.Client) -> None:
    account = new_account(api)
    reply = httpx.post(
        f"{pair[0].base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {account.gateway_key}"},
        json={"messages": [{"role": "user", "content": "hi"}]}, timeout=30,
    )  # fmt: skip
    assert reply.status_code == 200
    assert reply.headers["x-ratelimit-limit"] == str(KEY_LIMIT)
    assert reply.headers["x-ratelimit-remaining"] == str(KEY_LIMIT - 1)
    invalid = httpx.post(
        f"{pair[0].base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {account.gateway_key}"}, json={"messages": []}, timeout=30,
    )  # fmt: skip
    assert invalid.status_code == 400
    assert invalid.headers["x-ratelimit-remaining"] == str(KEY_LIMIT - 2)


def test_login_and_other_api_routes_are_limited_apart(gateway: RunningGateway, tmp_path: Path) -> None:
    # A Redis database of its own: the session's other gateways share 127.0.0.1's buckets.
    redis_url = gateway.state.settings.redis_url.rsplit("/", 1)[0] + "/7"
    limited = _sibling(
        gateway, tmp_path / "spool", redis_url=redis_url, rate_limit_auth_per_ip=3, rate_limit_api_per_ip=2
    )
    try:
        body = {"email": "nobody@example.com", "password": "wrong password"}
        codes = [httpx.post(f"{limited.base_url}/api/auth/login", json=body).status_code for _ in range(4)]
        others = [httpx.get(f"{limited.base_url}/api/auth/me") for _ in range(3)]
        limited.call(limited.state.extras["redis"].flushdb())
    finally:
        limited.stop()
    assert codes == [401, 401, 401, 429]
    # Other /api routes have their own per-IP allowance, untouched by the login attempts.
    assert [r.status_code for r in others] == [401, 401, 429]
    assert [r.headers["x-ratelimit-limit"] for r in others] == ["2"] * 3
    assert [r.headers["x-ratelimit-remaining"] for r in others] == ["1", "0", "0"]
    assert 55 <= int(others[2].headers["retry-after"]) <= 60


def test_redis_down_fails_open_and_health_says_so(
    pair: list[RunningGateway], stack: LocalStack, api: httpx.Client
) -> None:
    account = new_account(api)
    before = metrics.RATELIMIT_FAIL_OPEN._value.get()
    stack.stop_service("redis")
    try:
        replies = [_models(pair[0].base_url, account.gateway_key) for _ in range(KEY_LIMIT + 1)]
        health = httpx.get(f"{pair[0].base_url}/health", params={"deep": "1"}, timeout=10)
    finally:
        stack.start_service("redis")
    assert [r.status_code for r in replies] == [200] * KEY_LIMIT + [429]  # still limited, per process
    assert metrics.RATELIMIT_FAIL_OPEN._value.get() - before >= KEY_LIMIT + 1
    assert health.status_code == 200  # Redis is optional
    checks = health.json()["checks"]
    assert checks["redis"]["status"] == "down" and checks["redis"]["rate_limits"] == "per_process"
    assert checks["postgres"]["status"] == "ok"
    # Back to the shared limiter once Redis answers again (after the retry interval).
    time.sleep(1.1)
    fresh = new_account(api)
    for running in pair:
        reply = _models(running.base_url, fresh.gateway_key)
        assert reply.status_code == 200
        assert running.state.extras["rate_limiter"].redis_available
    assert reply.headers["x-ratelimit-remaining"] == str(KEY_LIMIT - 2)  # counted once in each, shared
