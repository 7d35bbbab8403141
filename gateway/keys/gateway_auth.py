"""Authenticating ``/v1/*`` calls by gateway key (``Authorization: Bearer gw_...``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from gateway.errors import ApiError
from gateway.keys.gateway_store import KEY_PREFIX, gateway_key_hash
from gateway.keys.key_cache import GatewayKeyCache
from gateway.state import AppState

log = logging.getLogger("switchyard.keys.auth")

_CACHE_KEY = "gateway_key_cache"
_MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class GatewayPrincipal:
    user_id: UUID
    key_id: UUID
    plan: str


def gateway_key_cache(state: AppState) -> GatewayKeyCache:
    """This process's cache; created (without its poller, hence always asking Postgres) if not started."""
    cache = state.extras.get(_CACHE_KEY)
    if cache is None:
        cache = state.extras[_CACHE_KEY] = GatewayKeyCache(state.db)
    return cache


async def start_key_cache(state: AppState) -> None:
    cache = state.extras[_CACHE_KEY] = GatewayKeyCache(state.db)
    await cache.start()


async def stop_key_cache(state: AppState) -> None:
    cache = state.extras.get(_CACHE_KEY)
    if cache is not None:
        await cache.stop()


def _incorrect_key() -> ApiError:
    return ApiError(
        401,
        "invalid_api_key",
        "Incorrect API key provided. Create a gateway key with POST /api/keys/gateway.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def authenticate_gateway_key(state: AppState, authorization: str | None) -> GatewayPrincipal:
    """The principal behind an Authorization header, or ApiError 401 ``invalid_api_key``."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(
            401,
            "invalid_api_key",
            "You didn't provide an API key. Send it as 'Authorization: Bearer gw_...'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key.startswith(KEY_PREFIX) or len(key) > _MAX_KEY_CHARS:
        raise _incorrect_key()
    cache = gateway_key_cache(state)
    try:
        owner = await cache.lookup(gateway_key_hash(key))
    except Exception as exc:
        log.warning("gateway key look-up failed: %s", type(exc).__name__)
        raise ApiError(503, "service_unavailable", "Authentication is temporarily unavailable") from None
    if owner is None:
        raise _incorrect_key()
    cache.note_use(owner.key_id)
    return GatewayPrincipal(user_id=owner.user_id, key_id=owner.key_id, plan=owner.plan)
