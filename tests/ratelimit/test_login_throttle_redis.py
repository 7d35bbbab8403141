"""The Redis login throttle: failures counted across processes, reset on success, fallback when down."""

from __future__ import annotations

import asyncio
import uuid

from gateway.auth.throttle import InMemoryLoginThrottle
from gateway.ratelimit.login_throttle import RedisLoginThrottle
from gateway.redis_client import connect_redis


def test_failures_are_shared_between_processes_and_reset(redis_url: str) -> None:
    email = f"email:{uuid.uuid4().hex}@example.com"
    ip = f"ip:10.0.{uuid.uuid4().int % 250}.1"

    async def scenario() -> tuple:
        redis = connect_redis(redis_url)
        try:
            first, second = RedisLoginThrottle(redis), RedisLoginThrottle(redis)  # two gateway processes
            waits = []
            for attempt in range(5):
                waits.append(await (first if attempt % 2 else second).retry_after([email, ip]))
                await (first if attempt % 2 else second).record_failure([email, ip])
            blocked = await first.retry_after([email, ip])
            await second.reset(email)
            after_reset = await first.retry_after([email, ip])
            return waits, blocked, after_reset
        finally:
            await redis.aclose()

    waits, blocked, after_reset = asyncio.run(scenario())
    assert waits == [None] * 5
    assert blocked is not None and 15 * 60 - 5 <= blocked <= 15 * 60
    assert after_reset is None  # the IP allows 20 failures


def test_unreachable_redis_falls_back_to_the_process_throttle() -> None:
    async def scenario() -> tuple:
        redis = connect_redis("redis://127.0.0.1:1/0")
        try:
            throttle = RedisLoginThrottle(redis, InMemoryLoginThrottle(limits={"email": 2, "ip": 20}))
            keys = ["email:a@example.com", "ip:127.0.0.1"]
            await throttle.record_failure(keys)
            await throttle.record_failure(keys)
            return await throttle.retry_after(keys)
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) is not None
