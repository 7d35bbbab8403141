"""The usage event: one per request the gateway answers, the source of truth for cost and usage.

Events travel gateway -> Kafka -> consumer -> ClickHouse. ``event_id`` is a time-ordered UUIDv7 and is
the final deduplication key: a re-sent event never becomes a second row.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Status = Literal["ok", "error", "timeout", "rate_limited", "cancelled"]
Complexity = Literal["simple", "moderate", "complex", ""]


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit unix milliseconds, then random bits; sorts by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Attempt(BaseModel):
    """One try at one upstream model; a request with fallbacks has several."""

    model_config = ConfigDict(extra="forbid")

    model: str
    provider: str
    outcome: str  # "ok" or an error code such as "upstream_overloaded", "timeout"
    latency_ms: float
    http_status: int = 0


class UsageEvent(BaseModel):
    """Version 1 of the usage event. Field names match the ClickHouse columns of ``usage_events``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid7)
    request_id: str
    user_id: uuid.UUID
    gateway_key_id: uuid.UUID | None = None

    received_at: datetime
    first_token_at: datetime | None = None
    finished_at: datetime

    requested_model: str = ""
    routed_model: str = ""
    provider: str = ""
    complexity: Complexity = ""
    stream: bool = False

    status: Status = "ok"
    error_code: str = ""
    http_status: int = 200

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cache_hit: bool = False
    attempts: list[Attempt] = Field(default_factory=list)

    client_ip_hash: str = ""
    user_agent: str = ""

    def to_bytes(self) -> bytes:
        """Compact JSON for the wire (Decimal as a string so no precision is lost)."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> UsageEvent:
        return cls.model_validate(orjson.loads(data))
