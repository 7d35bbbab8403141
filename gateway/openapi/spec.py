"""The OpenAPI 3.1 document, built once from ``OPERATIONS`` and the pydantic models they name.

Routes mounted on the app but missing from ``OPERATIONS`` still appear (with a generic description),
so the document always lists every route; ``undocumented_routes`` names them for a test to catch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from gateway.openapi import models as m
from gateway.openapi.operations import ACCESS_TOKEN, GATEWAY_KEY, OPERATIONS, Operation, Param

REF = "#/components/schemas/{model}"
_HIDDEN_METHODS = {"HEAD", "OPTIONS"}
_DESCRIPTIONS = {
    200: "OK", 201: "Created", 204: "No content", 400: "Invalid request", 401: "Not authenticated",
    402: "Payment required by the provider", 403: "Forbidden", 404: "Not found", 409: "Conflict",
    413: "Body too large", 415: "Content-Type is not application/json", 422: "Unprocessable request",
    429: "Rate limited (see Retry-After)", 500: "Internal error", 502: "Provider error",
    503: "A dependency is unavailable", 504: "Provider timed out",
}  # fmt: skip
_RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per minute", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left now", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Epoch seconds when the allowance is full again",
                          "schema": {"type": "integer"}},
}  # fmt: skip


def openapi_path(path: str) -> str:
    """Starlette's ``{name:converter}`` becomes OpenAPI's ``{name}``."""
    out, i = [], 0
    while i < len(path):
        char = path[i]
        if char == "{":
            end = path.index("}", i)
            out.append("{" + path[i + 1 : end].split(":", 1)[0] + "}")
            i = end + 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def mounted_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema:
            for method in route.methods or ():
                if method not in _HIDDEN_METHODS:
                    found.add((method, openapi_path(route.path)))
    return found


def undocumented_routes(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    documented = {(op.method, op.path) for op in OPERATIONS}
    return mounted_operations(routes) - documented


def _schemas() -> dict[str, Any]:
    used: set[type[BaseModel]] = {m.ErrorBody}
    for op in OPERATIONS:
        if op.body is not None:
            used.add(op.body)
        used.update(v for v in op.ok.values() if isinstance(v, type))
    ordered = sorted(used, key=lambda model: model.__name__)
    _, schema = models_json_schema(
        [(model, "serialization") for model in ordered], ref_template=REF
    )
    defs = schema.get("$defs", {})
    for model in ordered:  # request bodies are validated: the input view of those models
        if any(op.body is model for op in OPERATIONS):
            defs[model.__name__] = model.model_json_schema(ref_template=REF, mode="validation")
            defs.update(defs[model.__name__].pop("$defs", {}))
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _param(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.where, "schema": param.schema,
                           "required": param.required or param.where == "path"}
    if param.description:
        out["description"] = param.description
    return out


def _response(op: Operation, status: int, payload: type[BaseModel] | str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "Response")}
    if isinstance(payload, type):
        response["content"] = {"application/json": {"schema": _ref(payload)}}
        if op.streams and status == 200:
            response["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    elif isinstance(payload, str):
        response["content"] = {media: {"schema": {}} for media in payload.split(",")}
    if op.path.startswith(("/v1/", "/api/")) and status != 401:
        response["headers"] = dict(_RATE_HEADERS)
    return response


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", op.path).strip("_"),
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    out["security"] = [{op.auth: []}] if op.auth else []
    if op.params:
        out["parameters"] = [_param(p) for p in op.params]
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required,
                              "content": {"application/json": {"schema": _ref(op.body)}}}
    responses = {str(status): _response(op, status, payload) for status, payload in op.ok.items()}
    for status in op.errors:
        error = _response(op, status, m.ErrorBody)
        if status == 429:
            error["headers"] = {**error.get("headers", {}), "Retry-After": {
                "description": "Seconds to wait", "schema": {"type": "integer"}}}
        responses[str(status)] = error
    out["responses"] = responses
    return out


def build_openapi(routes: Iterable[BaseRoute], version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    for method, path in sorted(undocumented_routes(routes)):
        paths.setdefault(path, {})[method.lower()] = {
            "summary": f"{method} {path}", "tags": ["other"],
            "responses": {"default": {"description": "Any response",
                                      "content": {"application/json": {"schema": _ref(m.ErrorBody)}}}},
        }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard",
            "version": version,
            "description": "An OpenAI-compatible LLM gateway. /v1 takes gateway keys (Bearer gw_...); "
                           "/api takes the access token from /api/auth/login. Every error has the shape "
                           '{"error": {"code", "message", "type", "details"?}}.',
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                GATEWAY_KEY: {"type": "http", "scheme": "bearer", "description": "A gateway key, gw_..."},
                ACCESS_TOKEN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
