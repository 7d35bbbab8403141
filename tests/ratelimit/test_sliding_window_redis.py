"""The sliding-window log against a real Redis: limits shared by processes, exact in any rolling window."""

from __future__ import annotations

import asyncio
import time
import uuid

from gateway import metrics
from gateway.ratelimit.limiter import KEY_PREFIX, Decision, RateLimiter
from gateway.ratelimit.sliding_window import Limit
from gateway.redis_client import connect_redis
from tests.ratelimit.windows import most_in_any_window


def _subject() -> str:
    return uuid.uuid4().hex


async def _checks(url: str, limits: list[Limit], count: int) -> list[Decision]:
    redis = connect_redis(url)
    try:
        limiter = RateLimiter(redis)
        return [await limiter.check(limits) for _ in range(count)]
    finally:
        await redis.aclose()


def test_redis_allows_the_limit_then_refuses_until_the_oldest_request_leaves(redis_url: str) -> None:
    limits = [Limit(f"key:{_subject()}", 5)]
    started = time.time()
    decisions = asyncio.run(_checks(redis_url, limits, 7))

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert all(d.shared and d.limit == 5 for d in decisions)
    refused = decisions[5]
    # No slot frees before the first request is 60 s old.
    assert 59 <= refused.retry_after_s <= 60
    assert refused.headers()["retry-after"] == str(refused.retry_after_s)
    assert "retry-after" not in decisions[0].headers()
    # X-RateLimit-Reset: when the oldest counted request (the first one) leaves the window.
    assert {d.reset_at for d in decisions} <= {int(started) + 60, int(started) + 61}


def test_no_rolling_window_ever_holds_more_than_the_limit(redis_url: str) -> None:
    """Steady traffic at four times the limit over 2.5 windows; each admission's own Redis timestamp is read
    back from the sorted set, so the check is exact (a GCRA would admit 20 + one per 100 ms here)."""
    limit, window_s = 20, 2.0
    key = f"key:{_subject()}"
    limits = [Limit(key, limit, window_s=window_s)]

    async def steady() -> tuple[list[int], list[tuple[float, float]], list[Decision]]:
        redis = connect_redis(redis_url)
        try:
            limiter = RateLimiter(redis)
            stamps: list[int] = []
            local_bounds: list[tuple[float, float]] = []
            decisions: list[Decision] = []
            end = time.monotonic() + 2.5 * window_s
            while time.monotonic() < end:
                before = time.monotonic()
                decision = await limiter.check(limits)
                after = time.monotonic()
                decisions.append(decision)
                if decision.allowed:
                    newest = await redis.zrange(KEY_PREFIX + key, -1, -1, withscores=True)
                    stamps.append(int(newest[0][1]))
                    local_bounds.append((before, after))
                await asyncio.sleep(window_s / limit / 4)
            return stamps, local_bounds, decisions
        finally:
            await redis.aclose()

    stamps, local_bounds, decisions = asyncio.run(steady())

    assert all(d.shared for d in decisions)
    assert most_in_any_window(stamps, round(window_s * 1_000_000)) == limit
    # The same seen from this process's clock (10 ms allowed for it and Redis's clock to drift apart):
    # admission i + limit was answered at least a window after admission i was asked for.
    for i in range(len(local_bounds) - limit):
        assert local_bounds[i + limit][1] - local_bounds[i][0] >= window_s - 0.01
    # Admission resumes once the window has passed: a third window's worth was admitted.
    assert len(stamps) > 2 * limit
    first_refusal = next(i for i, d in enumerate(decisions) if not d.allowed)
    assert any(d.allowed for d in decisions[first_refusal:])
    assert all(1 <= d.retry_after_s <= window_s for d in decisions if not d.allowed)


def test_key_and_ip_are_counted_together_or_not_at_all(redis_url: str) -> None:
    ip = Limit(f"ip:{_subject()}", 3)
    first_key = Limit(f"key:{_subject()}", 10)
    second_key = Limit(f"key:{_subject()}", 10)

    async def scenario() -> tuple[list, list, list, int, int]:
        redis = connect_redis(redis_url)
        try:
            limiter = RateLimiter(redis)
            first = [await limiter.check([first_key, ip]) for _ in range(3)]
            # The IP is exhausted: a second key from the same IP is refused and its own log untouched.
            second = [await limiter.check([second_key, ip]) for _ in range(2)]
            untouched = await redis.zcard(KEY_PREFIX + second_key.key)
            ip_count = await redis.zcard(KEY_PREFIX + ip.key)
            alone = [await limiter.check([second_key])]
            return first, second, alone, untouched, ip_count
        finally:
            await redis.aclose()

    first, second, alone, untouched, ip_count = asyncio.run(scenario())
    assert all(d.allowed for d in first)
    assert [d.remaining for d in first] == [2, 1, 0]  # the tighter subject (the IP) is reported
    assert not any(d.allowed for d in second)
    assert second[0].limit == 3
    assert untouched == 0 and ip_count == 3
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
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(20))


def test_unreachable_redis_fails_open_to_a_local_limit() -> None:
    before = metrics.RATELIMIT_FAIL_OPEN._value.get()
    limits = [Limit(f"key:{_subject()}", 3)]
    decisions = asyncio.run(_checks("redis://127.0.0.1:1/0", limits, 4))

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert not any(d.shared for d in decisions)
    assert 59 <= decisions[-1].retry_after_s <= 60
    assert metrics.RATELIMIT_FAIL_OPEN._value.get() - before == 4
    assert metrics.RATELIMIT_REDIS_UP._value.get() == 0


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
