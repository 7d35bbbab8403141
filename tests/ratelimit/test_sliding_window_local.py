"""The in-process sliding-window log (fail-open), on a clock the tests control."""

from __future__ import annotations

import random

from gateway.errors import ApiError
from gateway.ratelimit.enforce import rate_limited_error
from gateway.ratelimit.limiter import Decision
from gateway.ratelimit.sliding_window import Limit, LocalSlidingWindow
from tests.ratelimit.windows import most_in_any_window


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_steady_traffic_never_puts_more_than_the_limit_in_a_window() -> None:
    clock = Clock()
    limiter = LocalSlidingWindow(clock=clock)
    limit, window_s = 20, 2.0
    limits = [Limit("key:steady", limit, window_s=window_s)]
    admitted: list[float] = []
    for step in range(7 * 40):  # 40 requests a second for 7 s: four times the allowance
        clock.now = 1000.0 + step * 0.025
        if limiter.check(limits).allowed:
            admitted.append(clock.now)

    assert most_in_any_window(admitted, window_s) == limit
    # Admission resumes each time the window has passed: four windows began within the 7 s.
    assert len(admitted) == 4 * limit
    assert [round(t - 1000.0, 3) for t in admitted[limit : limit + 2]] == [2.0, 2.025]


def test_random_traffic_is_admitted_exactly_when_the_window_has_room() -> None:
    """Against a reference count: admitted if and only if fewer than ``limit`` admissions are younger
    than the window, for both subjects of a request at once."""
    rng = random.Random(7)
    clock = Clock()
    limiter = LocalSlidingWindow(clock=clock)
    ip = Limit("ip:shared", 12, window_s=3.0)
    keys = [Limit(f"key:{i}", 8, window_s=2.0) for i in range(3)]
    history: dict[str, list[float]] = {limit.key: [] for limit in [ip, *keys]}
    refused = 0
    for _ in range(3000):
        clock.now += rng.expovariate(10.0)
        key = rng.choice(keys)
        in_window = {
            limit.key: sum(clock.now - t < limit.window_s for t in history[limit.key]) for limit in (key, ip)
        }
        expected = all(in_window[limit.key] < limit.limit for limit in (key, ip))
        decision = limiter.check([key, ip])
        assert decision.allowed == expected
        if decision.allowed:
            history[key.key].append(clock.now)
            history[ip.key].append(clock.now)
        else:
            refused += 1
    assert refused > 100  # the limits were actually reached
    assert most_in_any_window(history[ip.key], ip.window_s) == ip.limit
    assert all(most_in_any_window(history[k.key], k.window_s) <= k.limit for k in keys)


def test_retry_after_and_reset_point_at_the_oldest_counted_request() -> None:
    clock = Clock(0.0)
    limiter = LocalSlidingWindow(clock=clock)
    limits = [Limit("key:a", 2, window_s=10)]
    first = limiter.check(limits)
    assert first.allowed and first.subjects[0].remaining == 1 and first.subjects[0].reset_s == 10
    clock.now = 3.0
    second = limiter.check(limits)
    assert second.allowed and second.subjects[0].remaining == 0 and second.subjects[0].reset_s == 7
    clock.now = 4.0
    refused = limiter.check(limits)
    assert not refused.allowed and refused.retry_after_s == 6 and refused.subjects[0].reset_s == 6
    clock.now = 9.999
    assert not limiter.check(limits).allowed
    clock.now = 10.0  # the first request has left the window
    again = limiter.check(limits)
    assert again.allowed and again.subjects[0].remaining == 0 and again.subjects[0].reset_s == 3
    decision = Decision.from_verdict(refused, shared=False, now=1_700_000_000.0)
    assert decision.retry_after_s == 6 and decision.reset_at == 1_700_000_006
    assert decision.headers()["retry-after"] == "6"


def test_key_and_ip_are_counted_together_or_not_at_all() -> None:
    limiter = LocalSlidingWindow(clock=Clock())
    ip = Limit("ip:x", 2)
    first, second = Limit("key:1", 5), Limit("key:2", 5)
    assert limiter.check([first, ip]).allowed and limiter.check([first, ip]).allowed
    refused = limiter.check([second, ip])
    assert not refused.allowed and refused.subjects[0].remaining == 5  # the key was not charged
    assert limiter.check([second]).subjects[0].remaining == 4


def test_memory_is_bounded_idle_subjects_are_dropped() -> None:
    clock = Clock()
    limiter = LocalSlidingWindow(max_subjects=50, clock=clock)
    for i in range(200):
        limiter.check([Limit(f"ip:{i}", 3, window_s=1.0)])
    assert len(limiter) == 50  # the cap: least recently checked subjects go first
    clock.now += 1.0
    limiter.check([Limit("ip:new", 3, window_s=1.0)])
    assert len(limiter) == 1  # everything else was idle for a whole window
    big = Limit("key:busy", 3, window_s=60.0)
    for _ in range(100):
        limiter.check([big])
    assert limiter.check([big]).subjects[0].remaining == 0


def test_the_429_message_names_the_window() -> None:
    minute = Decision(False, 60, 0, 1_700_000_060, 12, shared=True)
    short = Decision(False, 20, 0, 1_700_000_002, 2, shared=True, window_s=2.0)
    assert isinstance(rate_limited_error(minute), ApiError)
    assert "60 requests per minute exceeded; retry after 12 s" in rate_limited_error(minute).message
    assert "20 requests per 2 s exceeded" in rate_limited_error(short).message
