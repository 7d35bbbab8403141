"""The usage event: one per request the gateway answers, the source of truth for cost and usage.

Events travel gateway -> Kafka -> consumer -> ClickHouse. ``event_id`` is a time-ordered UUIDv7 and is
the final deduplication key: a re-sent event never becomes a second row.

Every bound below matches the ClickHouse column type, so an event that validates here can always be
inserted and is stored as validated; one that does not goes to the dead-letter topic instead of
blocking its partition. ``schemas.fast_check`` repeats these bounds for the loader's hot path.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 1

Status = Literal["ok", "error", "timeout", "rate_limited", "cancelled"]
Complexity = Literal["simple", "moderate", "complex", ""]

UInt16 = Annotated[int, Field(ge=0, le=0xFFFF)]
UInt32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]
Millis = Annotated[float, Field(ge=0, le=1e9)]
ShortText = Annotated[str, Field(max_length=256)]
# Decimal(18, 9) in ClickHouse: up to 999,999,999.999999999 USD, nano-dollar precision. On the wire a
# fixed-point string ("0.000000008", never "8E-9"): exact, and readable by any JSON consumer.
# Times must carry a zone (a naive time would be read as UTC by ClickHouse, whatever the producer meant)
# and lie where every column derived from them can hold them: the rollup's ``hour`` and the TTL are
# ``DateTime`` (seconds since 1970 in a UInt32), which saturates silently outside this range, although
# ``DateTime64(3)`` itself would store more. Sub-millisecond digits are truncated by DateTime64(3).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2106, 2, 7, 6, 28, 16, tzinfo=UTC)  # exclusive: 2**32 seconds after 1970
EventTime = Annotated[AwareDatetime, Field(ge=EARLIEST_TIME, lt=END_OF_TIME)]
Usd = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=9, allow_inf_nan=False),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]


def uuid7_value(random_bytes: bytes) -> int:
    """The 128 bits of a UUIDv7 (RFC 9562) made now: 48-bit unix milliseconds, version 7, the RFC 4122
    variant, and 74 bits of ``random_bytes`` (10 bytes); sorts by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(random_bytes, "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    return (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=uuid7_value(os.urandom(10)))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Attempt(BaseModel):
    """One try at one upstream model; a request with fallbacks has several."""

    model_config = ConfigDict(extra="forbid")

    model: ShortText
    provider: ShortText
    outcome: ShortText  # "ok" or an error code such as "upstream_overloaded", "timeout"
    latency_ms: Millis
    http_status: UInt16 = 0


class UsageEvent(BaseModel):
    """Version 1 of the usage event. Field names match the ClickHouse columns of ``usage_events``.

    No prompt or completion text is ever part of it.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid7)
    request_id: ShortText
    user_id: uuid.UUID
    gateway_key_id: uuid.UUID | None = None

    received_at: EventTime
    first_token_at: EventTime | None = None
    finished_at: EventTime

    requested_model: ShortText = ""
    routed_model: ShortText = ""
    provider: ShortText = ""
    complexity: Complexity = ""
    stream: bool = False

    status: Status = "ok"
    error_code: ShortText = ""
    http_status: UInt16 = 200

    input_tokens: UInt32 = 0
    cached_input_tokens: UInt32 = 0
    cache_write_tokens: UInt32 = 0
    output_tokens: UInt32 = 0
    reasoning_tokens: UInt32 = 0
    cost_usd: Usd = Decimal(0)

    latency_ms: Millis = 0.0
    ttft_ms: Millis | None = None
    cache_hit: bool = False
    attempts: list[Attempt] = Field(default_factory=list, max_length=32)

    client_ip_hash: ShortText = ""
    user_agent: ShortText = ""

    def to_bytes(self) -> bytes:
        """Compact JSON for the wire: Decimal as a string (no precision lost), UUIDs and RFC 3339
        timestamps as strings. pydantic-core's serializer is ~3x cheaper than model_dump + orjson."""
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> UsageEvent:
        return cls.model_validate_json(data)
