"""Streaming export encoders: CSV (RFC 4180 quoting by the csv module) and one JSON array."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

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


async def json_stream(chunks: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    """``[`` + the JSON objects ClickHouse rendered, comma-separated + ``]``; one piece per chunk."""
    yield b"["
    separator = ""
    async for records in chunks:
        yield (separator + ",".join(records)).encode()
        separator = ","
    yield b"]"


ENCODERS = {"csv": csv_stream, "json": json_stream}
