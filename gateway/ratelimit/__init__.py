"""Rate limits shared by every gateway process (Redis GCRA), failing open to per-process limits."""

from gateway.ratelimit.enforce import enforce_v1_limits, rate_limiter, with_v1_limits
from gateway.ratelimit.gcra import Limit
from gateway.ratelimit.limiter import Decision, RateLimiter
from gateway.ratelimit.middleware import ApiRateLimitMiddleware

__all__ = [
    "ApiRateLimitMiddleware",
    "Decision",
    "Limit",
    "RateLimiter",
    "enforce_v1_limits",
    "rate_limiter",
    "with_v1_limits",
]
