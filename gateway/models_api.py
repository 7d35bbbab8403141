"""The model catalog over HTTP: ``/api/models*`` (public) and ``GET /v1/models`` (OpenAI list format)."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import ApiError
from gateway.http import json_response, read_json
from gateway.keys.gateway_auth import authenticate_gateway_key
from gateway.keys.provider_keys import user_provider_keys
from gateway.ratelimit import enforce_v1_limits
from gateway.routing.catalog import Model
from gateway.routing.router import resolve_model_id
from gateway.state import get_state

_TRUE = {"true": True, "1": True, "false": False, "0": False}


def model_json(model: Model) -> dict[str, Any]:
    return dataclasses.asdict(model)


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw.lower() not in _TRUE:
        raise ApiError(400, "invalid_parameter", f"{name} must be true or false", {"parameter": name})
    return _TRUE[raw.lower()]


async def list_models(request: Request) -> Response:
    catalog = get_state(request).catalog
    models = catalog.all()
    provider = request.query_params.get("provider")
    if provider is not None:
        providers = sorted({m.provider for m in models})
        if provider not in providers:
            raise ApiError(400, "invalid_parameter", f"provider must be one of {providers}",
                           {"parameter": "provider"})
        models = [m for m in models if m.provider == provider]
    vision = _bool_param(request, "supports_vision")
    if vision is not None:
        models = [m for m in models if m.supports_vision == vision]
    min_context = request.query_params.get("min_context")
    if min_context is not None:
        if not min_context.isdigit():
            raise ApiError(400, "invalid_parameter", "min_context must be a non-negative integer",
                           {"parameter": "min_context"})
        models = [m for m in models if m.context_window >= int(min_context)]
    return json_response({"models": [model_json(m) for m in models], "count": len(models)})


async def get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    model = resolve_model_id(model_id, get_state(request).catalog)
    if model is None:
        raise ApiError(404, "model_not_found", f"Unknown model '{model_id}'")
    return json_response(model_json(model))


async def compare_models(request: Request) -> Response:
    body = await read_json(request)
    ids = body.get("models") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 4 or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "invalid_request", "models must be a list of 1 to 4 model ids",
                       {"field": "models"})
    catalog = get_state(request).catalog
    unknown = [i for i in ids if catalog.get(i) is None]
    if unknown:
        raise ApiError(404, "model_not_found", f"Unknown model(s): {', '.join(unknown)}",
                       {"unknown": unknown})
    models = [catalog.get(i) for i in ids]
    cheapest = min(models, key=lambda m: m.pricing.input + m.pricing.output)
    return json_response({
        "models": [model_json(m) for m in models],
        "cheapest": cheapest.id,
        "largest_context": max(models, key=lambda m: m.context_window).id,
        "highest_quality": max(models, key=lambda m: m.quality_tier).id,
    })


async def openai_models(request: Request) -> Response:
    """Models the calling gateway key can reach, plus the virtual model ``auto``."""
    state = get_state(request)
    principal = await authenticate_gateway_key(state, request.headers.get("authorization"))
    client_ip = request.client.host if request.client else ""
    limit_headers = await enforce_v1_limits(state, principal, client_ip)
    user_keys = await user_provider_keys(state, principal.user_id)
    reachable = {n for n, c in state.settings.providers.items() if c.api_key} | set(user_keys)
    data = [{"id": "auto", "object": "model", "created": 0, "owned_by": "switchyard"}]
    data += [
        {"id": m.id, "object": "model", "created": 0, "owned_by": m.provider}
        for m in state.catalog.all()
        if m.provider in reachable
    ]
    return json_response({"object": "list", "data": data}, headers=limit_headers)


routes = [
    Route("/api/models", list_models, methods=["GET"]),
    Route("/api/models/compare", compare_models, methods=["POST"]),
    Route("/api/models/{model_id:path}", get_model, methods=["GET"]),
]
