"""The export's read path: keyset-paginated chunks of one user's requests, as bytes ClickHouse rendered.

Each chunk is a time range [from, to) read along the ordering key (user_id, created_at, event_id): a
read of the time column alone finds where the chunk ends (``LIMIT 1 OFFSET chunk - 1``), then one read
renders every record of the range (see export_format). Chunks meet on a millisecond edge, so they
neither overlap nor leave gaps, and hold ``chunk`` rows plus any sharing the last row's millisecond.
Memory is bounded by one chunk however long the export, other queries interleave between chunks, and
the same statements work on chdb and on a ClickHouse server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from gateway.analytics.export_format import FORMAT_SETTINGS, RECORD_SQL
from gateway.analytics.periods import sql_ms

if TYPE_CHECKING:
    from gateway.clickhouse import ClickHouse

CHUNK_ROWS = 50_000

_IN_RANGE = """
    e.user_id = {user:UUID}
    AND e.created_at >= {from_at:DateTime64(3, 'UTC')} AND e.created_at < {to_at:DateTime64(3, 'UTC')}
    AND ({model:String} = '' OR e.routed_model = {model:String})
"""

# The end of the chunk starting at `from_at`: just after the time of its `skip + 1`-th row (rows of the
# same millisecond never straddle two chunks), or nothing when fewer rows remain. Reads only the key.
BOUNDARY_SQL = f"""
SELECT toString(e.created_at + toIntervalMillisecond(1)) AS next_at
FROM {{db:Identifier}}.usage_events AS e
WHERE {_IN_RANGE}
ORDER BY e.created_at
LIMIT 1 OFFSET {{skip:UInt64}}
"""

_RECORDS_SQL = f"""
SELECT __RECORD__ AS record
FROM {{db:Identifier}}.usage_events AS e
WHERE {_IN_RANGE}
ORDER BY e.created_at, e.event_id
SETTINGS {FORMAT_SETTINGS}
FORMAT RawBLOB
"""

# One fixed statement per format; the record expression is chosen from constants, never from input.
RECORDS_SQL = {fmt: _RECORDS_SQL.replace("__RECORD__", record) for fmt, record in RECORD_SQL.items()}


async def export_chunks(
    ch: ClickHouse,
    user_id: UUID,
    start: datetime,
    end: datetime,
    model: str | None,
    fmt: str,
    chunk: int = CHUNK_ROWS,
) -> AsyncIterator[bytes]:
    """The user's requests in ``[start, end)``, oldest first (ties by event id), rendered as ``fmt``
    records (see export_format): about ``chunk`` records per non-empty ``bytes``."""
    params: dict[str, Any] = {
        "db": ch.database, "user": str(user_id), "model": model or "", "skip": chunk - 1,
        "from_at": sql_ms(start), "to_at": sql_ms(end),
    }
    sql = RECORDS_SQL[fmt]
    while True:
        boundary = await ch.query(BOUNDARY_SQL, params)
        chunk_end = boundary[0]["next_at"] if boundary else params["to_at"]
        data = await ch.raw_query(sql, {**params, "to_at": chunk_end})
        if data:
            yield data
        if not boundary:
            return
        params["from_at"] = chunk_end
