"""The model catalog: which models exist, what they cost and what they can do.

The catalog is a JSON data file (``catalog.json`` next to this module, or the operator's own file via
``MODEL_CATALOG_PATH``). It is validated with pydantic when loaded and exposed as frozen dataclasses, so the
request path only ever reads immutable values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SHIPPED_CATALOG = Path(__file__).with_name("catalog.json")
PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "google")
Provider = Literal["openai", "anthropic", "google"]


class CatalogError(ValueError):
    """The catalog file is missing, is not JSON, or does not match the schema."""


@dataclass(frozen=True)
class Pricing:
    """USD per 1M tokens. ``cache_write`` is None where the provider has no separate cache-write price."""

    input: Decimal
    cached_input: Decimal
    cache_write: Decimal | None
    output: Decimal


@dataclass(frozen=True)
class Model:
    id: str
    provider: str
    upstream_id: str
    display_name: str
    pricing: Pricing
    context_window: int
    max_output: int
    default_max_tokens: int
    supports_vision: bool
    supports_tools: bool
    supports_json_mode: bool
    supports_streaming: bool
    reasoning: bool
    speed_tier: int
    quality_tier: int
    release_date: str | None
    recommended_for: tuple[str, ...]


class Catalog:
    """An immutable set of models, indexed by id."""

    def __init__(self, models: list[Model], *, as_of: str = "", sources: dict[str, list[str]] | None = None):
        self._models: tuple[Model, ...] = tuple(models)
        self._by_id: dict[str, Model] = {m.id: m for m in self._models}
        self.as_of = as_of
        self.sources = dict(sources or {})

    def get(self, model_id: str) -> Model | None:
        return self._by_id.get(model_id)

    def all(self) -> list[Model]:
        return list(self._models)

    def by_provider(self, provider: str) -> list[Model]:
        return [m for m in self._models if m.provider == provider]

    def ids(self) -> list[str]:
        return [m.id for m in self._models]

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id


# ---------------------------------------------------------------------------------------------------------
# File schema (validation only; converted to the dataclasses above)

_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class _PricingSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Decimal = Field(ge=0)
    cached_input: Decimal = Field(ge=0)
    cache_write: Decimal | None = Field(default=None, ge=0)
    output: Decimal = Field(ge=0)


class _ModelSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    provider: Provider
    upstream_id: str = Field(min_length=1)
    display_name: str = Field(min_length=1)
    pricing: _PricingSchema
    context_window: int = Field(gt=0)
    max_output: int = Field(gt=0)
    default_max_tokens: int = Field(gt=0)
    supports_vision: bool
    supports_tools: bool
    supports_json_mode: bool
    supports_streaming: bool
    reasoning: bool
    speed_tier: int = Field(ge=1, le=3)
    quality_tier: int = Field(ge=1, le=3)
    release_date: str | None = None
    recommended_for: list[str] = Field(default_factory=list)

    @field_validator("release_date")
    @classmethod
    def _date_shape(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.match(value):
            raise ValueError("release_date must look like YYYY-MM-DD or YYYY-MM")
        return value

    @model_validator(mode="after")
    def _limits_consistent(self) -> _ModelSchema:
        if self.max_output > self.context_window:
            raise ValueError(f"max_output {self.max_output} exceeds context_window {self.context_window}")
        if self.default_max_tokens > self.max_output:
            raise ValueError(
                f"default_max_tokens {self.default_max_tokens} exceeds max_output {self.max_output}"
            )
        return self


class _CatalogSchema(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: int = 1
    as_of: str = ""
    sources: dict[str, list[str]] = Field(default_factory=dict)
    models: list[_ModelSchema] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> _CatalogSchema:
        seen: set[str] = set()
        for model in self.models:
            if model.id in seen:
                raise ValueError(f"duplicate model id {model.id!r}")
            seen.add(model.id)
        return self


def _to_model(raw: _ModelSchema) -> Model:
    p = raw.pricing
    return Model(
        id=raw.id,
        provider=raw.provider,
        upstream_id=raw.upstream_id,
        display_name=raw.display_name,
        pricing=Pricing(
            input=p.input, cached_input=p.cached_input, cache_write=p.cache_write, output=p.output
        ),
        context_window=raw.context_window,
        max_output=raw.max_output,
        default_max_tokens=raw.default_max_tokens,
        supports_vision=raw.supports_vision,
        supports_tools=raw.supports_tools,
        supports_json_mode=raw.supports_json_mode,
        supports_streaming=raw.supports_streaming,
        reasoning=raw.reasoning,
        speed_tier=raw.speed_tier,
        quality_tier=raw.quality_tier,
        release_date=raw.release_date,
        recommended_for=tuple(raw.recommended_for),
    )


def parse_catalog(data: object, *, origin: str = "<data>") -> Catalog:
    """Validate an already-decoded catalog document."""
    try:
        schema = _CatalogSchema.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"invalid model catalog {origin}: {exc}") from exc
    return Catalog([_to_model(m) for m in schema.models], as_of=schema.as_of, sources=schema.sources)


def load_catalog(path: str | None = None) -> Catalog:
    """Load and validate a catalog file; ``None`` or ``""`` loads the catalog shipped with the gateway."""
    file = Path(path) if path else SHIPPED_CATALOG
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read model catalog {file}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"model catalog {file} is not valid JSON: {exc}") from exc
    return parse_catalog(data, origin=str(file))
