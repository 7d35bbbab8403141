"""Individual requests from the raw table, read along its ordering key (user_id, created_at)."""

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

PAGE_SQL = f"""
SELECT {_ROW_COLUMNS}
FROM {{db:Identifier}}.usage_events AS e
WHERE e.user_id = {{user:UUID}} AND ({{model:String}} = '' OR e.routed_model = {{model:String}})
ORDER BY e.created_at DESC, e.event_id DESC
LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}
"""

COUNT_SQL = """
SELECT count() AS n FROM {db:Identifier}.usage_events WHERE user_id = {user:UUID}
"""

# A count for one model reads the hourly rollup (the same rows, aggregated by the view on insert):
# counting in the raw table would read the model column of every one of the user's rows.
MODEL_COUNT_SQL = """
SELECT sum(requests) AS n FROM {db:Identifier}.usage_hourly
WHERE user_id = {user:UUID} AND routed_model = {model:String}
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
    params = {"db": ch.database, "user": str(user_id), "model": model or ""}
    rows = await ch.query(PAGE_SQL, {**params, "limit": limit, "offset": (page - 1) * limit})
    total = int((await ch.query(MODEL_COUNT_SQL if model else COUNT_SQL, params))[0]["n"])
    return {
        "data": [_page_row(r) for r in rows],
        "pagination": {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)},
    }
