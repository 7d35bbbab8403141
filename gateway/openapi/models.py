"""Response (and a few request) bodies as pydantic models, for the OpenAPI document only.

Routes keep building plain dicts for speed; these models describe them. Models of bodies that other
parts of the gateway still extend allow extra fields, so the document never contradicts a response.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Open):
    code: str = Field(description="Stable machine-readable code, e.g. rate_limited, invalid_request")
    message: str
    type: str = Field(description="OpenAI-compatible error type, e.g. rate_limit_error")
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- /health -------------------------------------------------------------------------------------


class Check(Open):
    status: Literal["ok", "down"]
    latency_ms: float
    required: bool = True
    error: str | None = None


class Health(Open):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] | None = Field(default=None, description="Only with ?deep=1")


# --- /v1 -----------------------------------------------------------------------------------------


class ChatMessage(Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = Field(
        default=None, description="Text, or content parts (text, image_url, input_audio, file)"
    )
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ChatCompletionRequest(Open):
    """An OpenAI chat-completions request. ``model`` may be ``auto`` (the router picks)."""

    model: str = Field(default="auto", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=2048)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    n: int | None = Field(default=None, ge=1, le=8)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None


class GatewayMetadata(Open):
    routed_to: str
    provider: str
    complexity: str
    cost_usd: float
    latency_ms: float
    cache_hit: bool
    request_id: str
    attempts: int


class ChatCompletion(Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None
    gateway_metadata: GatewayMetadata


class ModelEntry(Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Open):
    object: Literal["list"]
    data: list[ModelEntry]


# --- /api/auth and /api/keys --------------------------------------------------------------------


class PublicUser(Open):
    id: str
    email: str
    plan: str
    created_at: str


class Session(Open):
    user: PublicUser
    token: str = Field(description="Access token (JWT) for /api routes")
    refresh_token: str


class Me(PublicUser):
    provider_keys: Any = None


class GatewayKey(Open):
    id: str
    name: str


class CreatedGatewayKey(GatewayKey):
    key: str = Field(description="The key itself; shown once")


class KeyList(Open):
    keys: list[dict[str, Any]]


class SavedProviderKey(Open):
    provider: str
    verified: bool
    message: str


# --- /api/models and /api/analytics ---------------------------------------------------------------


class CatalogModel(Open):
    id: str
    provider: str


class CatalogList(Open):
    models: list[CatalogModel]
    count: int


class CompareRequest(BaseModel):
    models: list[str] = Field(min_length=1, max_length=4)


class Comparison(Open):
    models: list[CatalogModel]
    cheapest: str
    largest_context: str
    highest_quality: str


class Report(Open):
    """An analytics report; see the analytics documentation for every field."""
