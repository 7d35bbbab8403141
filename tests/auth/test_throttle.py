"""The in-process login throttle's sliding window, driven by a fake clock."""

from __future__ import annotations

import asyncio

from gateway.auth.throttle import InMemoryLoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_blocks_after_limit_and_slides_open() -> None:
    async def scenario() -> None:
        clock = Clock()
        throttle = InMemoryLoginThrottle({"email": 3, "ip": 10}, window_s=60, clock=clock)
        keys = ["email:a@example.com", "ip:10.0.0.1"]
        for step in range(3):
            assert await throttle.retry_after(keys) is None
            await throttle.record_failure(keys)
            clock.now += 10 if step < 2 else 0
        # Failures at t=1000, 1010, 1020: blocked until the first leaves the window at 1060.
        assert await throttle.retry_after(keys) == 40
        clock.now = 1059.5
        assert await throttle.retry_after(keys) == 1
        clock.now = 1060.0
        assert await throttle.retry_after(keys) is None
        assert await throttle.retry_after(["ip:10.0.0.1"]) is None

    asyncio.run(scenario())


def test_reset_and_bounded_memory() -> None:
    async def scenario() -> None:
        throttle = InMemoryLoginThrottle({"email": 1, "ip": 1}, window_s=60, max_keys=10, clock=Clock())
        await throttle.record_failure(["email:x@example.com"])
        assert await throttle.retry_after(["email:x@example.com"]) is not None
        await throttle.reset("email:x@example.com")
        assert await throttle.retry_after(["email:x@example.com"]) is None
        for i in range(100):
            await throttle.record_failure([f"ip:10.0.0.{i}"])
        assert len(throttle._failures) == 10
        assert await throttle.retry_after(["ip:10.0.0.99"]) is not None

    asyncio.run(scenario())
