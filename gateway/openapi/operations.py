"""Every route of the gateway, described once: summary, auth, parameters, body and every response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.auth.routes import LoginBody, LogoutBody, RefreshBody, SignupBody
from gateway.keys.routes import GatewayKeyBody, ProviderKeyBody
from gateway.openapi import models as m

GATEWAY_KEY = "gatewayKey"  # Authorization: Bearer gw_...
ACCESS_TOKEN = "accessToken"  # Authorization: Bearer <JWT from /api/auth/login>


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" | "path" | "header"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    auth: str | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    params: tuple[Param, ...] = ()
    ok: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)  # str: a media type
    errors: tuple[int, ...] = ()
    description: str = ""
    streams: bool = False  # 200 may also be text/event-stream (stream=true)


# Errors any route of a kind can answer.
BODY_ERRORS = (400, 413, 415)
RATE_LIMITED = (429,)

_timeframe = Param("timeframe", "query", {"type": "string", "enum": ["24h", "7d", "30d"], "default": "24h"})
_tz = Param("tz", "query", {"type": "string", "default": "UTC"}, "IANA time zone")
_model_filter = Param("model", "query", {"type": "string", "maxLength": 200}, "Exact routed model id")
_cache_header = Param(
    "x-switchyard-cache", "header", {"type": "string", "enum": ["on", "off"]},
    "on: cache this request even if not deterministic; off: neither read nor write the cache",
)  # fmt: skip

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/health", "Liveness; with deep=1 readiness of every dependency", "operator",
              params=(Param("deep", "query", {"type": "string", "enum": ["0", "1", "true"]}),),
              ok={200: m.Health, 503: m.Health}),
    Operation("GET", "/metrics", "Prometheus metrics of this process", "operator",
              ok={200: "text/plain"}),
    Operation("GET", "/openapi.json", "This OpenAPI document", "operator", ok={200: "application/json"}),
    Operation("GET", "/docs", "Interactive API documentation", "operator", ok={200: "text/html"}),
    Operation("POST", "/v1/chat/completions", "Create a chat completion (OpenAI-compatible)", "v1",
              auth=GATEWAY_KEY, body=m.ChatCompletionRequest, params=(_cache_header,),
              ok={200: m.ChatCompletion}, streams=True,
              errors=(*BODY_ERRORS, 401, 402, 403, 404, 422, *RATE_LIMITED, 500, 502, 503, 504),
              description="With stream=true the answer is a text/event-stream of chat.completion.chunk "
                          "objects ending with [DONE]. Every response carries X-RateLimit-Limit, "
                          "X-RateLimit-Remaining and X-RateLimit-Reset; a 429 also carries Retry-After."),
    Operation("GET", "/v1/models", "Models this gateway key can reach, plus auto", "v1", auth=GATEWAY_KEY,
              ok={200: m.ModelList}, errors=(401, *RATE_LIMITED, 503)),
    Operation("POST", "/api/auth/signup", "Create an account", "auth", body=SignupBody,
              ok={201: m.Session}, errors=(*BODY_ERRORS, 409, *RATE_LIMITED)),
    Operation("POST", "/api/auth/login", "Sign in", "auth", body=LoginBody,
              ok={200: m.Session}, errors=(*BODY_ERRORS, 401, *RATE_LIMITED)),
    Operation("POST", "/api/auth/refresh", "Exchange a refresh token for new ones", "auth",
              body=RefreshBody,
              ok={200: m.Session}, errors=(*BODY_ERRORS, 401, *RATE_LIMITED)),
    Operation("POST", "/api/auth/logout", "End the session", "auth", auth=ACCESS_TOKEN, body=LogoutBody,
              body_required=False, ok={204: None}, errors=(*BODY_ERRORS, 401, *RATE_LIMITED)),
    Operation("GET", "/api/auth/me", "The signed-in user", "auth", auth=ACCESS_TOKEN,
              ok={200: m.Me}, errors=(401, *RATE_LIMITED)),
    Operation("POST", "/api/keys/gateway", "Create a gateway key", "keys", auth=ACCESS_TOKEN,
              body=GatewayKeyBody, body_required=False, ok={201: m.CreatedGatewayKey},
              errors=(*BODY_ERRORS, 401, *RATE_LIMITED)),
    Operation("GET", "/api/keys/gateway", "List gateway keys", "keys", auth=ACCESS_TOKEN,
              ok={200: m.KeyList}, errors=(401, *RATE_LIMITED)),
    Operation("DELETE", "/api/keys/gateway/{key_id}", "Revoke a gateway key", "keys", auth=ACCESS_TOKEN,
              params=(Param("key_id", "path", {"type": "string"}, required=True),),
              ok={204: None}, errors=(401, 404, *RATE_LIMITED)),
    Operation("POST", "/api/keys/provider", "Verify and save a provider key", "keys", auth=ACCESS_TOKEN,
              body=ProviderKeyBody, ok={201: m.SavedProviderKey},
              errors=(*BODY_ERRORS, 401, *RATE_LIMITED, 503)),
    Operation("GET", "/api/keys/provider", "List saved provider keys (masked)", "keys", auth=ACCESS_TOKEN,
              ok={200: m.KeyList}, errors=(401, *RATE_LIMITED)),
    Operation("DELETE", "/api/keys/provider/{provider}", "Delete a provider key", "keys", auth=ACCESS_TOKEN,
              params=(Param("provider", "path", {"type": "string"}, required=True),),
              ok={204: None}, errors=(401, 404, *RATE_LIMITED)),
    Operation("GET", "/api/models", "The model catalog", "models",
              params=(Param("provider", "query", {"type": "string"}),
                      Param("supports_vision", "query", {"type": "string", "enum": ["true", "false"]}),
                      Param("min_context", "query", {"type": "string", "pattern": "^[0-9]+$"})),
              ok={200: m.CatalogList}, errors=(400, *RATE_LIMITED)),
    Operation("POST", "/api/models/compare", "Compare up to four models", "models", body=m.CompareRequest,
              ok={200: m.Comparison}, errors=(*BODY_ERRORS, 404, *RATE_LIMITED)),
    Operation("GET", "/api/models/{model_id}", "One catalog model", "models",
              params=(Param("model_id", "path", {"type": "string"}, required=True),),
              ok={200: m.CatalogModel}, errors=(404, *RATE_LIMITED)),
    Operation("GET", "/api/analytics/overview", "Totals for a timeframe", "analytics", auth=ACCESS_TOKEN,
              params=(_timeframe,), ok={200: m.Report}, errors=(400, 401, *RATE_LIMITED, 503)),
    Operation("GET", "/api/analytics/cost-breakdown", "Cost per day", "analytics", auth=ACCESS_TOKEN,
              params=(Param("days", "query", {"type": "string", "enum": ["7", "14", "30"]}), _tz),
              ok={200: m.Report}, errors=(400, 401, *RATE_LIMITED, 503)),
    Operation("GET", "/api/analytics/model-distribution", "Requests and cost per model", "analytics",
              auth=ACCESS_TOKEN, params=(_timeframe,), ok={200: m.Report},
              errors=(400, 401, *RATE_LIMITED, 503)),
    Operation("GET", "/api/analytics/requests", "Recent requests, paginated", "analytics",
              auth=ACCESS_TOKEN,
              params=(Param("page", "query", {"type": "integer", "minimum": 1}),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}),
                      _model_filter),
              ok={200: m.Report}, errors=(400, 401, *RATE_LIMITED, 503)),
    Operation("GET", "/api/analytics/export", "Usage rows as CSV or JSON", "analytics", auth=ACCESS_TOKEN,
              params=(Param("format", "query", {"type": "string", "enum": ["csv", "json"]}),
                      Param("from", "query", {"type": "string"}, "ISO 8601 date or datetime"),
                      Param("to", "query", {"type": "string"}, "ISO 8601 date or datetime"),
                      _tz, _model_filter),
              ok={200: "text/csv,application/json"}, errors=(400, 401, *RATE_LIMITED, 503)),
)  # fmt: skip
