"""/api/keys/*: the signed-in user's gateway keys and provider keys."""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.guard import current_user
from gateway.errors import ApiError
from gateway.http import json_response, parse_body
from gateway.keys.gateway_auth import gateway_key_cache
from gateway.keys.gateway_store import create_gateway_key, list_gateway_keys, revoke_gateway_key
from gateway.keys.provider_keys import provider_key_cache
from gateway.keys.provider_store import (
    PROVIDERS,
    delete_provider_key,
    list_provider_keys,
    save_provider_key,
)
from gateway.state import get_state

log = logging.getLogger("switchyard.keys")


class GatewayKeyBody(BaseModel):
    name: str = Field(default="", max_length=100)


class ProviderKeyBody(BaseModel):
    provider: str = Field(max_length=32)
    api_key: str = Field(min_length=1, max_length=1024)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "Key not found")


async def create_gateway_key_route(request: Request) -> Response:
    user = await current_user(request)
    body = await parse_body(request, GatewayKeyBody) if await request.body() else GatewayKeyBody()
    created = await create_gateway_key(get_state(request).db, user.id, body.name.strip())
    return json_response(created, status=201)


async def list_gateway_keys_route(request: Request) -> Response:
    user = await current_user(request)
    return json_response({"keys": await list_gateway_keys(get_state(request).db, user.id)})


async def revoke_gateway_key_route(request: Request) -> Response:
    user = await current_user(request)
    try:
        key_id = UUID(request.path_params["key_id"])
    except ValueError:
        raise _not_found() from None
    state = get_state(request)
    key_hash = await revoke_gateway_key(state.db, user.id, key_id)
    if key_hash is None:
        raise _not_found()
    gateway_key_cache(state).evict(key_hash)
    return Response(status_code=204)


async def add_provider_key_route(request: Request) -> Response:
    user = await current_user(request)
    body = await parse_body(request, ProviderKeyBody)
    state = get_state(request)
    provider = body.provider.strip().lower()
    adapter = state.adapters.get(provider)
    if provider not in PROVIDERS or adapter is None:
        raise ApiError(
            400, "unknown_provider", f"Unknown provider; expected one of: {', '.join(PROVIDERS)}"
        )
    try:
        valid = await adapter.verify_key(body.api_key)
    except Exception as exc:
        # Never log the exception text: some providers echo the rejected key back.
        status = getattr(exc, "status", None)
        if isinstance(status, int) and 400 <= status < 500:  # a definite refusal, e.g. 403
            valid = False
        else:
            log.warning("%s key verification failed: %s", provider, type(exc).__name__)
            raise ApiError(
                503, "provider_unavailable", f"Could not reach {provider} to verify the key; try again later"
            ) from None
    if not valid:
        raise ApiError(400, "invalid_api_key", "Invalid API key")
    await save_provider_key(state.db, state.settings, user.id, provider, body.api_key)
    provider_key_cache(state).invalidate(user.id)
    return json_response(
        {"provider": provider, "verified": True, "message": f"{provider} key verified and saved"}, status=201
    )


async def list_provider_keys_route(request: Request) -> Response:
    user = await current_user(request)
    return json_response({"keys": await list_provider_keys(get_state(request).db, user.id)})


async def delete_provider_key_route(request: Request) -> Response:
    user = await current_user(request)
    state = get_state(request)
    provider = request.path_params["provider"]
    if provider not in PROVIDERS or not await delete_provider_key(state.db, user.id, provider):
        raise _not_found()
    provider_key_cache(state).invalidate(user.id)
    return Response(status_code=204)


routes = [
    Route("/api/keys/gateway", create_gateway_key_route, methods=["POST"]),
    Route("/api/keys/gateway", list_gateway_keys_route, methods=["GET"]),
    Route("/api/keys/gateway/{key_id}", revoke_gateway_key_route, methods=["DELETE"]),
    Route("/api/keys/provider", add_provider_key_route, methods=["POST"]),
    Route("/api/keys/provider", list_provider_keys_route, methods=["GET"]),
    Route("/api/keys/provider/{provider}", delete_provider_key_route, methods=["DELETE"]),
]
