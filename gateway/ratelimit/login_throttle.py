"""``RedisLoginThrottle``: the login route's failed-attempt throttle, shared by every gateway process.

Same contract and semantics as ``gateway.auth.throttle.InMemoryLoginThrottle`` (at most N failures
per window for each ``kind:value`` key), kept in Redis sorted sets of failure times. Keys are hashed
(no email addresses in Redis). If Redis fails, the in-process throttle takes over for that call.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.auth.throttle import InMemoryLoginThrottle

log = logging.getLogger("switchyard.ratelimit")

# KEYS: throttle keys. ARGV: window_ms, then one limit per key. Returns the longest wait in ms (0: none).
_RETRY_AFTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
    local until_free = tonumber(oldest[2]) + window - now
    if until_free > wait then wait = until_free end
  end
end
return wait
"""

# KEYS: throttle keys. ARGV: window_ms, a unique member, then one limit per key.
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[2] .. ':' .. now)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[i + 2]) + 1))
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return 1
"""


class RedisLoginThrottle:
    def __init__(self, redis: aioredis.Redis, fallback: InMemoryLoginThrottle | None = None) -> None:
        self._redis = redis
        self._fallback = fallback or InMemoryLoginThrottle()
        self.limits = self._fallback.limits
        self.window_s = self._fallback.window_s
        self._retry_after = redis.register_script(_RETRY_AFTER)
        self._record = redis.register_script(_RECORD)
        self._counter = 0
        self._instance = secrets.token_hex(6)  # failure members stay unique across processes

    def _limit(self, key: str) -> int:
        return self.limits.get(key.split(":", 1)[0], min(self.limits.values()))

    @staticmethod
    def _redis_key(key: str) -> str:
        kind, _, value = key.partition(":")
        return f"lt:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]

    async def retry_after(self, keys: Sequence[str]) -> int | None:
        args = [round(self.window_s * 1000), *(self._limit(k) for k in keys)]
        try:
            wait_ms = int(await self._retry_after(keys=[self._redis_key(k) for k in keys], args=args))
        except (RedisError, OSError) as exc:
            log.warning("login throttle cannot reach Redis (%s); using this process's", type(exc).__name__)
            return await self._fallback.retry_after(keys)
        return max(1, math.ceil(wait_ms / 1000)) if wait_ms > 0 else None

    async def record_failure(self, keys: Sequence[str]) -> None:
        self._counter += 1
        member = f"{self._instance}-{self._counter}"
        args = [round(self.window_s * 1000), member, *(self._limit(k) for k in keys)]
        try:
            await self._record(keys=[self._redis_key(k) for k in keys], args=args)
        except (RedisError, OSError):
            await self._fallback.record_failure(keys)

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._redis_key(key))
