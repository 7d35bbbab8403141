"""Rate limits shared by every gateway process (Redis sliding-window logs), failing open per process."""

from gateway.ratelimit.enforce import enforce_v1_limits, rate_limiter
from gateway.ratelimit.limiter import Decision, RateLimiter
from gateway.ratelimit.middleware import ApiRateLimitMiddleware
from gateway.ratelimit.sliding_window import Limit

__all__ = [
    "ApiRateLimitMiddleware",
    "Decision",
    "Limit",
    "RateLimiter",
    "enforce_v1_limits",
    "rate_limiter",
]
