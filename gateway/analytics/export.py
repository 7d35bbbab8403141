"""Streaming export encoders: CSV (RFC 4180 quoting via the csv module) and a JSON array."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from operator import itemgetter
from typing import Any

import orjson

from gateway.analytics.request_log import EXPORT_COLUMNS

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

_BOOL_COLUMNS = {i for i, name in enumerate(EXPORT_COLUMNS) if name in ("cache_hit", "stream")}
_values = itemgetter(*EXPORT_COLUMNS)


def _csv_values(row: dict[str, Any]) -> list[Any]:
    values = list(_values(row))
    for i in _BOOL_COLUMNS:
        values[i] = "true" if values[i] else "false"
    return values


async def csv_stream(chunks: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """A header line, then one CSV record per row; one ``bytes`` piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue().encode()
    async for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(map(_csv_values, rows))
        yield buffer.getvalue().encode()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    record = {name: row[name] for name in EXPORT_COLUMNS}
    record["cost_usd"] = orjson.Fragment(record["cost_usd"])  # ClickHouse's exact decimal text
    return record


async def json_stream(chunks: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """One JSON array of row objects, written a chunk at a time."""
    yield b"["
    first = True
    async for rows in chunks:
        body = orjson.dumps([_json_row(r) for r in rows])[1:-1]
        if body:
            yield body if first else b"," + body
            first = False
    yield b"]"


ENCODERS = {"csv": csv_stream, "json": json_stream}
