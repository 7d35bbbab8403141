"""``RateLimiter``: the shared Redis sliding-window log, failing open to a per-process one when Redis is down.

Fail-open is deliberate: losing Redis must not take the gateway down. While Redis is unreachable
each process enforces the limits on its own (so N processes allow up to N times the limit), the
``switchyard_ratelimit_redis_up`` gauge reads 0, ``switchyard_ratelimit_fail_open_total`` counts
every request decided locally, and ``/health?deep=1`` reports Redis as down.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from gateway import metrics
from gateway.ratelimit.script_client import ScriptClient
from gateway.ratelimit.sliding_window import LUA_SLIDING_WINDOW, Limit, LocalSlidingWindow, Verdict

log = logging.getLogger("switchyard.ratelimit")

# Sorted sets of request times ("rl:" held the strings of an earlier algorithm: a new name avoids WRONGTYPE).
KEY_PREFIX = "rlw:"
REDIS_RETRY_INTERVAL_S = 1.0  # after a failure, decide locally this long before trying Redis again


@dataclass(frozen=True)
class Decision:
    """A verdict ready for HTTP: the tightest subject's numbers become the X-RateLimit-* headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds
    retry_after_s: int
    shared: bool  # decided by Redis (True) or by this process alone (fail-open)
    window_s: float = 60.0  # the tightest subject's window

    @classmethod
    def from_verdict(cls, verdict: Verdict, shared: bool, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        tightest = min(verdict.subjects, key=lambda s: (s.remaining, -s.reset_s))
        return cls(
            allowed=verdict.allowed,
            limit=tightest.limit,
            remaining=tightest.remaining,
            reset_at=math.ceil(now + tightest.reset_s),
            retry_after_s=max(1, math.ceil(verdict.retry_after_s)) if not verdict.allowed else 0,
            shared=shared,
            window_s=tightest.window_s,
        )

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._redis = redis
        self._script: ScriptClient | AsyncScript | None = None
        if redis is not None:
            self._script = ScriptClient.for_redis(redis, LUA_SLIDING_WINDOW) or redis.register_script(
                LUA_SLIDING_WINDOW
            )
        self._local = LocalSlidingWindow()
        self._instance = secrets.token_hex(6)  # request members stay unique across processes
        self._sequence = itertools.count()
        self._redis_down_until = 0.0
        metrics.RATELIMIT_REDIS_UP.set(1 if redis is not None else 0)

    @property
    def redis_available(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    async def check(self, limits: Sequence[Limit], scope: str = "v1") -> Decision:
        """Count one request against every limit (all or none) and say whether it may proceed."""
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            keys = [KEY_PREFIX + limit.key for limit in limits]
            args: list[int | str] = [f"{self._instance}:{next(self._sequence)}"]
            for limit in limits:
                args += [limit.limit, round(limit.window_s * 1000)]
            try:
                reply = await self._script(keys=keys, args=args)
            except (RedisError, OSError) as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_INTERVAL_S
                metrics.RATELIMIT_REDIS_UP.set(0)
                log.error("rate limiter cannot reach Redis (%s); limiting per process", type(exc).__name__)
            else:
                metrics.RATELIMIT_REDIS_UP.set(1)
                verdict = Verdict.from_script(reply, limits)
                return self._count(Decision.from_verdict(verdict, shared=True), scope)
        metrics.RATELIMIT_FAIL_OPEN.inc()
        return self._count(Decision.from_verdict(self._local.check(limits), shared=False), scope)

    async def aclose(self) -> None:
        """Close the limiter's own Redis connection (the shared client is closed by its owner)."""
        if isinstance(self._script, ScriptClient):
            await self._script.aclose()

    @staticmethod
    def _count(decision: Decision, scope: str) -> Decision:
        if not decision.allowed:
            metrics.RATELIMIT_REJECTED.labels(scope=scope).inc()
        return decision
