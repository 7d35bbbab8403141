"""The GCRA against a real Redis (shared limits) and in process memory (fail-open), same semantics."""

from __future__ import annotations

import asyncio
import uuid

from gateway import metrics
from gateway.ratelimit.gcra import Limit, LocalGcra
from gateway.ratelimit.limiter import RateLimiter
from gateway.redis_client import connect_redis


def _subject() -> str:
    return uuid.uuid4().hex


async def _checks(url: str, limits: list[Limit], count: int) -> list:
    redis = connect_redis(url)
    try:
        limiter = RateLimiter(redis)
        return [await limiter.check(limits) for _ in range(count)]
    finally:
        await redis.aclose()


def test_redis_allows_the_limit_then_refuses_with_retry_after(redis_url: str) -> None:
    limits = [Limit(f"key:{_subject()}", 5)]
    decisions = asyncio.run(_checks(redis_url, limits, 7))

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.shared for d in decisions)
    refused = decisions[5]
    assert refused.limit == 5
    # One request is earned back every 60/5 = 12 seconds.
    assert 11 <= refused.retry_after_s <= 12
    assert refused.headers()["retry-after"] == str(refused.retry_after_s)
    assert "retry-after" not in decisions[0].headers()
    assert decisions[4].reset_at >= decisions[0].reset_at


def test_key_and_ip_are_counted_together_or_not_at_all(redis_url: str) -> None:
    ip = Limit(f"ip:{_subject()}", 3)
    first_key = Limit(f"key:{_subject()}", 10)
    second_key = Limit(f"key:{_subject()}", 10)

    async def scenario() -> tuple[list, list, list]:
        redis = connect_redis(redis_url)
        try:
            limiter = RateLimiter(redis)
            first = [await limiter.check([first_key, ip]) for _ in range(3)]
            # The IP is exhausted: a second key from the same IP is refused and its own bucket untouched.
            second = [await limiter.check([second_key, ip]) for _ in range(2)]
            alone = [await limiter.check([second_key])]
            return first, second, alone
        finally:
            await redis.aclose()

    first, second, alone = asyncio.run(scenario())
    assert all(d.allowed for d in first)
    assert [d.remaining for d in first] == [2, 1, 0]  # the tighter subject (the IP) is reported
    assert not any(d.allowed for d in second)
    assert second[0].limit == 3
    assert alone[0].allowed and alone[0].remaining == 9


def test_concurrent_requests_never_exceed_the_limit(redis_url: str) -> None:
    limits = [Limit(f"key:{_subject()}", 20)]

    async def burst() -> list:
        redis = connect_redis(redis_url)
        try:
            limiters = [RateLimiter(redis) for _ in range(4)]  # as if four processes
            return await asyncio.gather(*(limiters[i % 4].check(limits) for i in range(60)))
        finally:
            await redis.aclose()

    decisions = asyncio.run(burst())
    assert sum(d.allowed for d in decisions) == 20


def test_unreachable_redis_fails_open_to_a_local_limit() -> None:
    before = metrics.RATELIMIT_FAIL_OPEN._value.get()
    limits = [Limit(f"key:{_subject()}", 3)]
    decisions = asyncio.run(_checks("redis://127.0.0.1:1/0", limits, 4))

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert not any(d.shared for d in decisions)
    assert metrics.RATELIMIT_FAIL_OPEN._value.get() - before == 4
    assert metrics.RATELIMIT_REDIS_UP._value.get() == 0


def test_local_gcra_earns_requests_back_over_time() -> None:
    now = [1000.0]
    gcra = LocalGcra(clock=lambda: now[0])
    limits = [Limit("key:a", 2, period_s=10)]
    assert gcra.check(limits).allowed
    assert gcra.check(limits).allowed
    refused = gcra.check(limits)
    assert not refused.allowed and round(refused.retry_after_s, 3) == 5.0
    now[0] += 5
    again = gcra.check(limits)
    assert again.allowed and again.subjects[0].remaining == 0
    now[0] += 10
    assert gcra.check(limits).subjects[0].remaining == 1


def test_plan_overrides_from_the_environment(monkeypatch) -> None:
    from gateway.ratelimit.policy import plan_limits
    from gateway.settings import Settings

    monkeypatch.setenv("RATE_LIMIT_PLANS", "pro:600:1000, team:1200, bad:x, zero:0")
    monkeypatch.setenv("RATE_LIMIT_PER_KEY", "60")
    monkeypatch.setenv("RATE_LIMIT_PER_IP", "100")
    settings = Settings.from_env()
    assert settings.rate_limit_plans == {"pro": (600, 1000), "team": (1200, None)}
    assert plan_limits(settings, "pro") == (600, 1000)
    assert plan_limits(settings, "team") == (1200, 100)
    assert plan_limits(settings, "free") == (60, 100)
