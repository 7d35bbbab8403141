"""Streaming export bodies: the framing around the records ClickHouse rendered (see export_format)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.analytics.export_format import CSV_HEADER

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


async def csv_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The header line, then the records as rendered, one ``bytes`` piece per chunk."""
    yield CSV_HEADER
    async for records in chunks:
        yield records


async def json_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """One JSON array: every record carries its leading comma, so the first one becomes the ``[``."""
    opened = False
    async for records in chunks:
        yield records if opened else b"[" + records[1:]
        opened = True
    yield b"]" if opened else b"[]"


ENCODERS = {"csv": csv_stream, "json": json_stream}
