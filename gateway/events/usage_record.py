"""The usage event rendered straight from plain values: the request path's cheap twin of ``UsageEvent``.

Building the pydantic ``UsageEvent`` (and one ``Attempt`` per upstream try) validated values that come
from the gateway's own code on every request. Here the event is a dict with every field of
``UsageEvent`` in declaration order, and orjson renders it to exactly the bytes
``UsageEvent(**fields).to_bytes()`` gives (``tests/pipeline/test_usage_record.py`` holds the two
together), so Kafka, the loader's fast check and ClickHouse see no difference. The one value an
upstream controls, the token counts, is bounds-checked; an event outside the bounds goes through the
model, which rejects it exactly as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from schemas.usage_event import Attempt, UsageEvent, uuid7

EVENT_FIELDS: tuple[str, ...] = tuple(UsageEvent.model_fields)
ATTEMPT_FIELDS: tuple[str, ...] = tuple(Attempt.model_fields)
SCHEMA_VERSION: int = UsageEvent.model_fields["schema_version"].default
_UINT32_MAX = 0xFFFF_FFFF
_TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                 "reasoning_tokens")


def attempt_record(
    model: str, provider: str, outcome: str, latency_ms: float, http_status: int
) -> dict[str, Any]:
    """One try at one upstream model, as the ``Attempt`` fields in their order."""
    return {"model": model, "provider": provider, "outcome": outcome, "latency_ms": latency_ms,
            "http_status": http_status}


def new_event_id() -> Any:
    """A fresh time-ordered event id (UUIDv7), the loader's deduplication key."""
    return uuid7()


def _render_other(value: Any) -> str:
    """What orjson leaves to us: the cost, and UUID subclasses (asyncpg returns its own)."""
    if isinstance(value, Decimal):
        return format(value, "f")  # as the model's Usd serializer: "0.000000008", never "8E-9"
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of a usage event")


def _tokens_in_bounds(fields: dict[str, Any]) -> bool:
    for name in _TOKEN_FIELDS:
        count = fields[name]
        if type(count) is not int or not 0 <= count <= _UINT32_MAX:
            return False
    return True


def usage_event_bytes(fields: dict[str, Any]) -> bytes:
    """The wire form of the usage event ``fields`` describe (every field of ``UsageEvent``, in order).

    Datetimes must be timezone-aware UTC, UUIDs ``uuid.UUID``, the cost a ``Decimal`` and the attempts
    dicts from ``attempt_record``. Raises ``pydantic.ValidationError`` for token counts out of bounds.
    """
    if not _tokens_in_bounds(fields):
        return UsageEvent(**fields).to_bytes()
    return orjson.dumps(fields, default=_render_other, option=orjson.OPT_UTC_Z)
