"""Insert a partition batch that ClickHouse refuses: find the refused rows, load all the others.

The batch's rows are split into pieces that are inserted one by one; a piece ClickHouse refuses is
split again, down to single rows. A refused single row gets one more try re-serialised through the
``UsageEvent`` model (a foreign producer's JSON that msgspec accepts but ClickHouse's reader does
not, e.g. a duplicated key or ``-0`` for an unsigned integer); if ClickHouse refuses that too, the
row is returned to be dead-lettered with ClickHouse's message. ClickHouse's "at row N" is used as
the first split point when it gives one, so one bad row costs about four inserts instead of
2 * log2(rows).

Deduplication tokens: a piece is inserted with ``<batch token>/<first>-<last>``, the Kafka offsets of
its first and last row. The pieces are a function of the batch's rows and of what ClickHouse refuses,
so a batch re-read after a crash is split the same way and every piece already inserted is dropped
by its token; the whole-batch token is never spent (the refused insert stored nothing). If a re-read
batch has other boundaries, the per-partition window of recent event ids drops the rows already
loaded (it is restored from ClickHouse whenever a partition is assigned).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from consumers.refusals import refusal_reason, refused_row
from consumers.rows import normalised_row, row_offset, split_row
from schemas import UsageEvent

# Insert these rows with this token; None when done, else the data error ClickHouse refused them with
# (outages are retried inside, never returned).
InsertRows = Callable[[list[bytes], str], Awaitable[BaseException | None]]


async def insert_or_isolate(rows: list[bytes], token: str, insert: InsertRows) -> list[tuple[bytes, str]]:
    """Insert ``rows``; returns the rows ClickHouse refused, each with the reason (empty if none)."""
    error = await insert(rows, token)
    if error is None:
        return []
    return await _isolate(rows, token, error, insert)


def piece_token(batch_token: str, piece: list[bytes]) -> str:
    return f"{batch_token}/{row_offset(piece[0])}-{row_offset(piece[-1])}"


async def _isolate(
    rows: list[bytes], batch_token: str, error: BaseException, insert: InsertRows
) -> list[tuple[bytes, str]]:
    """``rows`` were refused with ``error``: insert them piece by piece, return the refused rows."""
    if len(rows) == 1:
        return await _last_try(rows[0], piece_token(batch_token, rows), error, insert)
    refused: list[tuple[bytes, str]] = []
    for start, end in split_points(len(rows), refused_row(error)):
        piece = rows[start:end]
        piece_error = await insert(piece, piece_token(batch_token, piece))
        if piece_error is not None:
            refused += await _isolate(piece, batch_token, piece_error, insert)
    return refused


async def _last_try(
    row: bytes, token: str, error: BaseException, insert: InsertRows
) -> list[tuple[bytes, str]]:
    """One refused row: try it once more as the model writes it (same token: nothing was stored)."""
    normalised = normalise(row)
    if normalised is not None and normalised != row:
        retry_error = await insert([normalised], token)
        if retry_error is None:
            return []
        error = retry_error
    return [(row, refusal_reason(error))]


def split_points(rows: int, hint: int | None) -> list[tuple[int, int]]:
    """Pieces of a refused run of ``rows`` (>= 2) rows, each strictly smaller than the run: around the
    row ClickHouse named (1-based) if it is in range, else two halves."""
    if hint is not None and 1 <= hint <= rows:
        bad = hint - 1
        bounds = [(0, bad), (bad, bad + 1), (bad + 1, rows)]
        return [(start, end) for start, end in bounds if end > start]
    half = rows // 2
    return [(0, half), (half, rows)]


def normalise(row: bytes) -> bytes | None:
    """``row`` re-serialised through the model, or None if its message no longer validates."""
    value, partition, offset = split_row(row)
    try:
        return normalised_row(UsageEvent.model_validate_json(value), partition, offset)
    except ValidationError:
        return None
