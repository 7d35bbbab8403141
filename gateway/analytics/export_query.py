"""The export's read path: keyset-paginated chunks of one user's requests, rendered by ClickHouse.

Each chunk is one short range read on the ordering key (user_id, created_at, event_id), so memory is
bounded by one chunk however long the export, and other queries interleave between chunks. ClickHouse
renders each record as one tuple of ready values (text for CSV), so Python does little more than write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from gateway.analytics.periods import sql_ms

if TYPE_CHECKING:
    from gateway.clickhouse import ClickHouse

CHUNK_ROWS = 20_000

# Export columns, in file order.
EXPORT_COLUMNS = (
    "id", "event_id", "created_at", "model", "requested_model", "provider", "complexity", "status",
    "error_code", "http_status", "input_tokens", "cached_input_tokens", "output_tokens",
    "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms", "cache_hit", "stream", "user_agent",
)

# CSV values are text already: exact decimals, true/false, and an empty field for a missing ttft.
_CSV_TEXT = {
    "cache_hit": "if(cache_hit, 'true', 'false')",
    "stream": "if(stream, 'true', 'false')",
    "ttft_ms": "ifNull(toString(ttft_ms), '')",
    "cost_usd": "toString(cost_usd)",
}
_CSV_RECORD = "tuple(" + ", ".join(_CSV_TEXT.get(c, c) for c in EXPORT_COLUMNS) + ")"
# JSON records are the typed columns; cost_usd comes as exact decimal text for an exact JSON number.
_JSON_RECORD = "tuple(" + ", ".join(
    "toString(cost_usd)" if c == "cost_usd" else c for c in EXPORT_COLUMNS
) + ")"

_EXPORT_SQL = """
SELECT cursor_at, event_id, __RECORD__ AS record
FROM (
    SELECT
        e.request_id AS id, toString(e.event_id) AS event_id,
        concat(replaceOne(toString(e.created_at), ' ', 'T'), 'Z') AS created_at,
        toString(e.routed_model) AS model, toString(e.requested_model) AS requested_model,
        toString(e.provider) AS provider, toString(e.complexity) AS complexity,
        toString(e.status) AS status, toString(e.error_code) AS error_code,
        e.http_status AS http_status, e.input_tokens AS input_tokens,
        e.cached_input_tokens AS cached_input_tokens, e.output_tokens AS output_tokens,
        e.reasoning_tokens AS reasoning_tokens, e.cost_usd AS cost_usd,
        round(toFloat64(e.latency_ms), 2) AS latency_ms, round(toFloat64(e.ttft_ms), 2) AS ttft_ms,
        e.cache_hit AS cache_hit, e.stream AS stream, toString(e.user_agent) AS user_agent,
        toString(e.created_at) AS cursor_at
    FROM {db:Identifier}.usage_events AS e
    WHERE e.user_id = {user:UUID}
      AND e.created_at >= {after_at:DateTime64(3, 'UTC')} AND e.created_at < {end:DateTime64(3, 'UTC')}
      AND ({first:Bool} OR e.created_at > {after_at:DateTime64(3, 'UTC')} OR e.event_id > {after_id:UUID})
      AND ({model:String} = '' OR e.routed_model = {model:String})
    ORDER BY e.created_at, e.event_id
    LIMIT {chunk:UInt32}
)
"""

# One fixed statement per format; the record expression is chosen from constants, never from input.
EXPORT_SQL = {
    "csv": _EXPORT_SQL.replace("__RECORD__", _CSV_RECORD),
    "json": _EXPORT_SQL.replace("__RECORD__", _JSON_RECORD),
}


async def export_records(
    ch: ClickHouse,
    user_id: UUID,
    start: datetime,
    end: datetime,
    model: str | None,
    fmt: str,
    chunk: int = CHUNK_ROWS,
) -> AsyncIterator[list[Any]]:
    """The user's requests in ``[start, end)``, oldest first (ties by event id), ``chunk`` per list.

    Records are tuples in ``EXPORT_COLUMNS`` order: all text for CSV, typed values for JSON (with
    ``cost_usd`` as exact decimal text).
    """
    params: dict[str, Any] = {
        "db": ch.database, "user": str(user_id), "end": sql_ms(end), "model": model or "", "chunk": chunk,
        "first": True, "after_at": sql_ms(start), "after_id": "00000000-0000-0000-0000-000000000000",
    }
    sql = EXPORT_SQL[fmt]
    while True:
        rows = await ch.query(sql, params)
        if not rows:
            return
        last = rows[-1]
        params.update(first=False, after_at=last["cursor_at"], after_id=last["event_id"])
        yield [r["record"] for r in rows]
        if len(rows) < chunk:
            return
