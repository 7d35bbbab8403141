"""The export's read path: keyset-paginated chunks of one user's requests, as bytes ClickHouse rendered.

Each chunk costs two short range reads on the ordering key (user_id, created_at, event_id): a key-only
read finds the chunk's last key (``LIMIT 1 OFFSET chunk - 1``), then one read renders every record up
to it (see export_format). Memory is bounded by one chunk however long the export, other queries
interleave between chunks, and the same statements work on chdb and on a ClickHouse server.
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
_NO_EVENT = "00000000-0000-0000-0000-000000000000"

# Rows of the export strictly after the cursor (all of them for the first chunk).
_AFTER_CURSOR = """
    e.user_id = {user:UUID}
    AND e.created_at >= {after_at:DateTime64(3, 'UTC')} AND e.created_at < {end:DateTime64(3, 'UTC')}
    AND ({first:Bool} OR e.created_at > {after_at:DateTime64(3, 'UTC')} OR e.event_id > {after_id:UUID})
    AND ({model:String} = '' OR e.routed_model = {model:String})
"""

BOUNDARY_SQL = f"""
SELECT toString(e.created_at) AS at, toString(e.event_id) AS id
FROM {{db:Identifier}}.usage_events AS e
WHERE {_AFTER_CURSOR}
ORDER BY e.created_at, e.event_id
LIMIT 1 OFFSET {{skip:UInt64}}
"""

_RECORDS_SQL = f"""
SELECT __RECORD__ AS record
FROM {{db:Identifier}}.usage_events AS e
WHERE {_AFTER_CURSOR}
  AND e.created_at <= {{upto_at:DateTime64(3, 'UTC')}}
  AND ({{last:Bool}} OR e.created_at < {{upto_at:DateTime64(3, 'UTC')}} OR e.event_id <= {{upto_id:UUID}})
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
    records (see export_format), at most ``chunk`` records per non-empty ``bytes``."""
    params: dict[str, Any] = {
        "db": ch.database, "user": str(user_id), "end": sql_ms(end), "model": model or "",
        "first": True, "after_at": sql_ms(start), "after_id": _NO_EVENT, "skip": chunk - 1,
    }
    sql = RECORDS_SQL[fmt]
    while True:
        boundary = await ch.query(BOUNDARY_SQL, params)
        if boundary:
            upto = {"last": False, "upto_at": boundary[0]["at"], "upto_id": boundary[0]["id"]}
        else:
            upto = {"last": True, "upto_at": params["end"], "upto_id": _NO_EVENT}
        data = await ch.raw_query(sql, {**params, **upto})
        if data:
            yield data
        if not boundary:
            return
        params.update(first=False, after_at=upto["upto_at"], after_id=upto["upto_id"])
