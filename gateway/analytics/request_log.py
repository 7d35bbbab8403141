"""Individual requests from the raw table, read along its ordering key (user_id, created_at).

A deep page is found without reading the rows before it: the hourly rollup (the same rows, counted by
the view on insert) says in which hours the page lies and how many newer rows come before them, so the
raw read covers only those hours and skips only rows within the first. Page 1000 then costs what page 1
does: one small rollup read (which also gives the total) and one short raw read.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from gateway.analytics.money import money
from gateway.analytics.periods import sql_ms

if TYPE_CHECKING:
    from gateway.clickhouse import ClickHouse

# Timestamps and money are rendered by ClickHouse as text: exact, and cheap to decode.
# Output aliases reuse column names, so the table columns are always referenced as `e.<column>`.
_ROW_COLUMNS = """
    e.request_id AS id,
    concat(replaceOne(toString(e.created_at), ' ', 'T'), 'Z') AS created_at,
    e.routed_model AS model, e.requested_model AS requested_model, e.provider AS provider,
    e.complexity AS complexity, e.status AS status,
    e.input_tokens AS input_tokens, e.output_tokens AS output_tokens, toString(e.cost_usd) AS cost_usd,
    round(toFloat64(e.latency_ms), 2) AS latency_ms, e.cache_hit AS cache_hit, e.stream AS stream
"""

# The page's rows: the newest rows received in [after_at, before_at), after skipping `skip` of them.
PAGE_SQL = f"""
SELECT {_ROW_COLUMNS}
FROM {{db:Identifier}}.usage_events AS e
WHERE e.user_id = {{user:UUID}} AND ({{model:String}} = '' OR e.routed_model = {{model:String}})
  AND e.created_at >= {{after_at:DateTime64(3, 'UTC')}} AND e.created_at < {{before_at:DateTime64(3, 'UTC')}}
ORDER BY e.created_at DESC, e.event_id DESC
LIMIT {{limit:UInt32}} OFFSET {{skip:UInt64}}
"""

# The user's hours with requests, newest first, with their counts from the rollup: one (UInt32 Unix
# hour, UInt64 count) record of 12 little-endian bytes each, a few thousand of them for a busy user.
HOURS_SQL = """
SELECT toUInt32(hour) AS hour, sum(requests) AS n
FROM {db:Identifier}.usage_hourly
WHERE user_id = {user:UUID} AND ({model:String} = '' OR routed_model = {model:String})
GROUP BY hour
ORDER BY hour DESC
FORMAT RowBinary
"""
_HOUR_RECORD = struct.Struct("<IQ")


@dataclass(frozen=True)
class PageWindow:
    """Where rows [offset, offset + limit) of the newest-first order lie: in [after_at, before_at),
    after the first ``skip`` rows of that range."""

    after_at: str
    before_at: str
    skip: int


def page_window(hours: list[tuple[int, int]], offset: int, limit: int) -> PageWindow | None:
    """Given (hour start as Unix seconds, rows) newest first: the page's first row lies in the first
    hour whose running count passes ``offset``, its last row in the first hour whose count reaches
    ``offset + limit`` (or the oldest hour, on the last page). ``None`` past the last row."""
    through = list(accumulate(n for _, n in hours))
    first = bisect_right(through, offset)
    if first == len(hours):
        return None
    last = min(bisect_left(through, offset + limit), len(hours) - 1)
    newer = through[first] - hours[first][1]
    return PageWindow(_sql_time(hours[last][0]), _sql_time(hours[first][0] + 3600), offset - newer)


def _sql_time(unix_seconds: int) -> str:
    return sql_ms(datetime.fromtimestamp(unix_seconds, UTC))


def _page_row(row: dict[str, Any]) -> dict[str, Any]:
    row["cost_usd"] = money_text(row["cost_usd"])
    return row


def money_text(text: str) -> orjson.Fragment:
    """ClickHouse's decimal text as an exact JSON number."""
    return money(Decimal(text))


async def requests_page(
    ch: ClickHouse, user_id: UUID, page: int, limit: int, model: str | None
) -> dict[str, Any]:
    """Page ``page`` (1-based) of the user's requests, newest first, ties broken by event id."""
    params = {"db": ch.database, "user": str(user_id), "model": model or ""}
    hours = list(_HOUR_RECORD.iter_unpack(await ch.raw_query(HOURS_SQL, params)))
    total = sum(n for _, n in hours)
    window = page_window(hours, (page - 1) * limit, limit)
    rows: list[dict[str, Any]] = []
    if window is not None:
        bounds = {"after_at": window.after_at, "before_at": window.before_at, "skip": window.skip}
        rows = await ch.query(PAGE_SQL, {**params, **bounds, "limit": limit})
    return {
        "data": [_page_row(r) for r in rows],
        "pagination": {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)},
    }
