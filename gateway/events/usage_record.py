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

import os
import threading
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from schemas.usage_event import Attempt, UsageEvent, uuid7_value

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


class _RandomPool:
    """Random bytes from ``os.urandom`` read 4 KiB at a time instead of one system call per event.

    Thread-safe, and emptied in a forked child so parent and child never share bytes: event ids are
    the deduplication key, a repeated one would drop an event.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._bytes, self._offset = b"", 0

    def take(self, count: int) -> bytes:
        with self._lock:
            start = self._offset
            if start + count > len(self._bytes):
                self._bytes, start = os.urandom(self.SIZE), 0
            self._offset = start + count
            return self._bytes[start : start + count]


_random_pool = _RandomPool()


def new_event_id() -> str:
    """A fresh time-ordered event id: ``schemas.uuid7`` as text, without a system call or a ``uuid.UUID``."""
    text = f"{uuid7_value(_random_pool.take(10)):032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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
