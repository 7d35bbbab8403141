"""Applying the limits on ``/v1``: one shared check per request, right after authentication."""

from __future__ import annotations

from gateway.errors import ApiError
from gateway.keys.gateway_auth import GatewayPrincipal
from gateway.ratelimit.limiter import Decision, RateLimiter
from gateway.ratelimit.policy import v1_limits
from gateway.ratelimit.sliding_window import window_phrase
from gateway.state import AppState

LIMITER_KEY = "rate_limiter"


def rate_limiter(state: AppState) -> RateLimiter:
    """This process's limiter; a local-only one if the lifespan did not create one."""
    limiter = state.extras.get(LIMITER_KEY)
    if limiter is None:
        limiter = state.extras[LIMITER_KEY] = RateLimiter(None)
    return limiter


def rate_limited_error(decision: Decision) -> ApiError:
    """429 in the standard shape; the openai SDK raises ``RateLimitError`` for it."""
    return ApiError(
        429, "rate_limited",
        f"Rate limit of {decision.limit} requests {window_phrase(decision.window_s)} exceeded; retry after "
        f"{decision.retry_after_s} s",
        {"limit": decision.limit, "retry_after_s": decision.retry_after_s},
        headers=decision.headers(),
    )  # fmt: skip


async def enforce_v1_limits(state: AppState, principal: GatewayPrincipal, client_ip: str) -> dict[str, str]:
    """The X-RateLimit-* headers for the response, or ApiError 429 (carrying them and Retry-After)."""
    limits = v1_limits(state.settings, str(principal.key_id), principal.plan, client_ip)
    decision = await rate_limiter(state).check(limits, scope="v1")
    if not decision.allowed:
        raise rate_limited_error(decision)
    return decision.headers()
