"""``ResponseCache``: cached answers in Redis with a TTL and a per-entry size cap.

Redis's own ``maxmemory`` with ``allkeys-lru`` bounds the total (the local stack sets 256 MB).
Every Redis failure is a miss: the cache can only ever make a request faster, never fail it.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.cache.entry import CachedAnswer

log = logging.getLogger("switchyard.cache")


class ResponseCache:
    def __init__(self, redis: aioredis.Redis, ttl_s: int, max_entry_bytes: int) -> None:
        self._redis = redis
        self.ttl_s = ttl_s
        self.max_entry_bytes = max_entry_bytes
        self._pending: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            metrics.CACHE_LOOKUPS.labels(result="error").inc()
            log.warning("response cache read failed: %s", type(exc).__name__)
            return None
        answer = CachedAnswer.loads(raw) if raw is not None else None
        metrics.CACHE_LOOKUPS.labels(result="hit" if answer is not None else "miss").inc()
        return answer

    async def put(self, key: str, answer: CachedAnswer) -> bool:
        raw = answer.dumps()
        if len(raw) > self.max_entry_bytes:
            return False
        try:
            await self._redis.set(key, raw, ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("response cache write failed: %s", type(exc).__name__)
            return False
        return True

    def put_later(self, key: str, answer: CachedAnswer) -> None:
        """Store without making the client wait for Redis."""
        task = asyncio.create_task(self.put(key, answer))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
