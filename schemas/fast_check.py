"""A fast, strict check of a usage event as the gateway writes it, for the loader's hot path.

``UsageEvent.model_validate_json`` costs ~13 us per message; this check (msgspec, one C call) costs
~3 us. It is deliberately *stricter* than the pydantic model: it accepts only the shape
``UsageEvent.to_bytes()`` produces (every field present, no unknown field, RFC 3339 timestamps, strict
JSON types, the cost as a fixed-point string), so every message it accepts also validates as a
``UsageEvent`` and can be handed to ClickHouse byte for byte. Anything
else (including a valid but differently formatted event from a foreign producer) is not rejected
here: the loader validates it with the model, which either normalises it or gives the dead-letter
reason. ``tests/pipeline/test_fast_check.py`` keeps the two in step.

What the check cannot see, because msgspec is more lenient than ClickHouse's JSON reader (a
duplicated key, ``-0`` for an unsigned integer, a lower-case ``t`` or ``z`` in a time), ClickHouse
refuses; the loader then re-serialises just the refused rows through the model (``consumers.insert``).
Nothing it passes is stored differently from what the model holds (tested against chdb).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.usage_event import EARLIEST_TIME, END_OF_TIME, SCHEMA_VERSION

# Decimal(18, 9) with no sign, no exponent, no leading zero: at most 9 + 9 digits.
_USD = r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,9})?$"

Uuid = uuid.UUID
UInt16 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF_FFFF)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
Usd = Annotated[str, msgspec.Meta(pattern=_USD)]
# Naive times are refused here; their range (EventTime in the model) is checked after decoding.
Time = Annotated[datetime, msgspec.Meta(tz=True)]


class _Attempt(msgspec.Struct, forbid_unknown_fields=True):
    model: ShortText
    provider: ShortText
    outcome: ShortText
    latency_ms: Millis
    http_status: UInt16


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """Field for field ``UsageEvent`` version 1, with no defaults: a missing field is not canonical."""

    schema_version: Literal[1]
    event_id: Uuid
    request_id: ShortText
    user_id: Uuid
    gateway_key_id: Uuid | None
    received_at: Time
    first_token_at: Time | None
    finished_at: Time
    requested_model: ShortText
    routed_model: ShortText
    provider: ShortText
    complexity: Literal["simple", "moderate", "complex", ""]
    stream: bool
    status: Literal["ok", "error", "timeout", "rate_limited", "cancelled"]
    error_code: ShortText
    http_status: UInt16
    input_tokens: UInt32
    cached_input_tokens: UInt32
    cache_write_tokens: UInt32
    output_tokens: UInt32
    reasoning_tokens: UInt32
    cost_usd: Usd
    latency_ms: Millis
    ttft_ms: Millis | None
    cache_hit: bool
    attempts: Annotated[list[_Attempt], msgspec.Meta(max_length=32)]
    client_ip_hash: ShortText
    user_agent: ShortText


assert SCHEMA_VERSION == 1, "the fast check describes schema version 1 only"

CHECKED_FIELDS = _Event.__struct_fields__
_decode = msgspec.json.Decoder(_Event).decode


def fast_event_id(value: bytes) -> uuid.UUID | None:
    """The event_id of a message in the gateway's wire shape, else None (validate it with the model)."""
    try:
        event = _decode(value)
    except msgspec.DecodeError:  # also msgspec.ValidationError, its subclass
        return None
    first_token_at = event.first_token_at
    if (
        EARLIEST_TIME <= event.received_at < END_OF_TIME
        and EARLIEST_TIME <= event.finished_at < END_OF_TIME
        and (first_token_at is None or EARLIEST_TIME <= first_token_at < END_OF_TIME)
    ):
        return event.event_id
    return None
