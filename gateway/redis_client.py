"""The one Redis connection pool a gateway process shares between rate limiting and the response cache.

Timeouts are short and there is one immediate retry at most: Redis sits on the hot path, and every
caller has a fallback (fail-open limiting, cache miss), so a slow Redis costs milliseconds, not seconds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

if TYPE_CHECKING:
    from gateway.state import AppState

log = logging.getLogger("switchyard.redis")

SOCKET_TIMEOUT_S = 0.25


def connect_redis(url: str, timeout_s: float = SOCKET_TIMEOUT_S) -> aioredis.Redis:
    """A lazily-connecting client; nothing is sent until the first command."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),  # one immediate retry: reconnects a pooled socket after a restart
        max_connections=200,
        decode_responses=False,
    )


async def start_redis_services(state: AppState) -> None:
    """The shared rate limiter, login throttle and response cache (``REDIS_URL``; limits work without)."""
    from gateway.cache import ResponseCache
    from gateway.ratelimit import RateLimiter

    settings = state.settings
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    state.extras["redis"] = redis
    state.extras["rate_limiter"] = RateLimiter(redis)
    if redis is not None:
        from gateway.ratelimit.login_throttle import RedisLoginThrottle

        state.extras["login_throttle"] = RedisLoginThrottle(redis)  # read by the login route
    if redis is not None and settings.cache_enabled:
        state.extras["response_cache"] = ResponseCache(
            redis, settings.cache_ttl_s, settings.cache_max_entry_bytes
        )
    if redis is None:
        log.warning("REDIS_URL is not set: rate limits are per process and the response cache is off")


async def stop_redis_services(state: AppState) -> None:
    cache = state.extras.get("response_cache")
    if cache is not None:
        await cache.drain()
    redis = state.extras.get("redis")
    if redis is not None:
        await redis.aclose()
