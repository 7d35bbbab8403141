"""Which limits apply to a request: the subjects and their allowances, from settings."""

from __future__ import annotations

import functools
import hashlib

from gateway.ratelimit.sliding_window import Limit
from gateway.settings import Settings

# /api routes that take a password or a refresh token: a tighter per-IP allowance against guessing
# (the login route also counts failed attempts per email, see gateway/auth/throttle.py).
AUTH_PATHS = frozenset({"/api/auth/signup", "/api/auth/login", "/api/auth/refresh"})


@functools.lru_cache(maxsize=4096)
def ip_subject(ip: str) -> str:
    """Client IPs are hashed before they become Redis keys."""
    return hashlib.sha256(b"switchyard-rl-ip:" + ip.encode()).hexdigest()[:24]


def plan_limits(settings: Settings, plan: str) -> tuple[int, int]:
    """Per-minute limits (per key, per IP) of a plan: its override from RATE_LIMIT_PLANS, or the defaults."""
    key_limit, ip_limit = settings.rate_limit_plans.get(plan, (settings.rate_limit_per_key, None))
    return key_limit, ip_limit or settings.rate_limit_per_ip


def v1_limits(settings: Settings, key_id: str, plan: str, client_ip: str) -> list[Limit]:
    """A /v1 request counts against its gateway key and its client IP, atomically."""
    key_limit, ip_limit = plan_limits(settings, plan)
    return [Limit(f"key:{key_id}", key_limit), Limit(f"ip:{ip_subject(client_ip)}", ip_limit)]


def api_limits(settings: Settings, path: str, client_ip: str) -> list[Limit]:
    """An /api request counts against its client IP; the auth routes have their own, smaller bucket."""
    if path in AUTH_PATHS:
        return [Limit(f"auth:{ip_subject(client_ip)}", settings.rate_limit_auth_per_ip)]
    return [Limit(f"api:{ip_subject(client_ip)}", settings.rate_limit_api_per_ip)]
