"""Streaming export encoders: CSV (RFC 4180 quoting by the csv module) and one JSON array."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.analytics.export_query import EXPORT_COLUMNS

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


async def csv_stream(chunks: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    """A header line, then one CSV record per row; one ``bytes`` piece per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue().encode()
    async for records in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(records)
        yield buffer.getvalue().encode()


_COST = EXPORT_COLUMNS.index("cost_usd")


def _json_object(record: tuple[Any, ...]) -> dict[str, Any]:
    values = list(record)
    values[_COST] = orjson.Fragment(values[_COST])  # exact decimal digits as a JSON number
    return dict(zip(EXPORT_COLUMNS, values, strict=True))


async def json_stream(chunks: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    """One JSON array of row objects, written one chunk at a time."""
    yield b"["
    separator = b""
    async for records in chunks:
        yield separator + orjson.dumps([_json_object(r) for r in records])[1:-1]
        separator = b","
    yield b"]"


ENCODERS = {"csv": csv_stream, "json": json_stream}
