"""The one Redis connection pool a gateway process shares between rate limiting and the response cache.

Timeouts are short and there are no retries: Redis sits on the hot path, and every caller has a
fallback (fail-open limiting, cache miss), so a slow Redis must cost milliseconds, never seconds.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

SOCKET_TIMEOUT_S = 0.25


def connect_redis(url: str, timeout_s: float = SOCKET_TIMEOUT_S) -> aioredis.Redis:
    """A lazily-connecting client; nothing is sent until the first command."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        max_connections=200,
        decode_responses=False,
    )
