"""Individual requests from the raw table, read along its ordering key (user_id, created_at).

A deep page is found without reading the rows before it: the hourly rollup (the same rows, counted by
the view on insert) says in which hour the page's first row lies and how many newer rows come before
that hour, so the raw read starts at the end of that hour and skips only rows within it. The cost of
page 1000 is then the cost of page 1 plus one small rollup read, and the same read gives the total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from gateway.analytics.money import money

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

# From the rollup, the hours newest first with the running count of their rows (`through`). The page
# holds rows [offset, offset + limit) of that order: its first row lies in the first hour whose running
# count passes `offset` (`first`, 0 past the last row), its last row in the first hour whose count
# reaches offset + limit (or the oldest hour, for the last page). The page read covers just those hours.
POSITION_SQL = """
SELECT
    arraySum(counts) AS total,
    arrayFirstIndex(c -> c > {offset:UInt64}, through) AS first,
    arrayFirstIndex(c -> c >= {offset:UInt64} + {limit:UInt64}, through) AS last,
    through[first] - counts[first] AS skipped,
    toString(toDateTime64(hours[first], 3, 'UTC') + INTERVAL 1 HOUR) AS before_at,
    toString(toDateTime64(hours[if(last = 0, length(hours), last)], 3, 'UTC')) AS after_at
FROM (
    SELECT groupArray(hour) AS hours, groupArray(n) AS counts, arrayCumSum(counts) AS through
    FROM (
        SELECT hour, sum(requests) AS n FROM {db:Identifier}.usage_hourly
        WHERE user_id = {user:UUID} AND ({model:String} = '' OR routed_model = {model:String})
        GROUP BY hour
        ORDER BY hour DESC
    )
)
"""


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
    params = {"db": ch.database, "user": str(user_id), "model": model or "", "limit": limit}
    offset = (page - 1) * limit
    position = (await ch.query(POSITION_SQL, {**params, "offset": offset}))[0]
    total = int(position["total"])
    rows: list[dict[str, Any]] = []
    if position["first"]:
        window = {"skip": offset - int(position["skipped"]), "after_at": position["after_at"],
                  "before_at": position["before_at"]}
        rows = await ch.query(PAGE_SQL, {**params, **window})
    return {
        "data": [_page_row(r) for r in rows],
        "pagination": {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)},
    }
