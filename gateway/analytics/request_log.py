"""Individual requests from the raw table, read along its ordering key (user_id, created_at)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
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
    round(e.latency_ms, 2) AS latency_ms, e.cache_hit AS cache_hit, e.stream AS stream
"""

PAGE_SQL = f"""
SELECT {_ROW_COLUMNS}
FROM {{db:Identifier}}.usage_events AS e
WHERE e.user_id = {{user:UUID}} AND ({{model:String}} = '' OR e.routed_model = {{model:String}})
ORDER BY e.created_at DESC, e.event_id DESC
LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}
"""

COUNT_SQL = """
SELECT count() AS n
FROM {db:Identifier}.usage_events
WHERE user_id = {user:UUID} AND ({model:String} = '' OR routed_model = {model:String})
"""

# Export columns, in file order. `event_id` doubles as the keyset cursor.
EXPORT_COLUMNS = (
    "id", "event_id", "created_at", "model", "requested_model", "provider", "complexity", "status",
    "error_code", "http_status", "input_tokens", "cached_input_tokens", "output_tokens",
    "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms", "cache_hit", "stream", "user_agent",
)

EXPORT_SQL = """
SELECT
    e.request_id AS id, toString(e.event_id) AS event_id,
    concat(replaceOne(toString(e.created_at), ' ', 'T'), 'Z') AS created_at,
    e.routed_model AS model, e.requested_model AS requested_model, e.provider AS provider,
    e.complexity AS complexity, e.status AS status, e.error_code AS error_code,
    e.http_status AS http_status, e.input_tokens AS input_tokens,
    e.cached_input_tokens AS cached_input_tokens, e.output_tokens AS output_tokens,
    e.reasoning_tokens AS reasoning_tokens, toString(e.cost_usd) AS cost_usd,
    round(e.latency_ms, 2) AS latency_ms, round(e.ttft_ms, 2) AS ttft_ms,
    e.cache_hit AS cache_hit, e.stream AS stream, e.user_agent AS user_agent,
    toString(e.created_at) AS cursor_at  -- not exported: the keyset cursor
FROM {db:Identifier}.usage_events AS e
WHERE e.user_id = {user:UUID}
  AND e.created_at >= {after_at:DateTime64(3, 'UTC')} AND e.created_at < {end:DateTime64(3, 'UTC')}
  AND ({first:Bool} OR e.created_at > {after_at:DateTime64(3, 'UTC')} OR e.event_id > {after_id:UUID})
  AND ({model:String} = '' OR e.routed_model = {model:String})
ORDER BY e.created_at, e.event_id
LIMIT {chunk:UInt32}
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
    total = int((await ch.query(COUNT_SQL, params))[0]["n"])
    return {
        "data": [_page_row(r) for r in rows],
        "pagination": {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)},
    }


async def export_chunks(
    ch: ClickHouse, user_id: UUID, start: datetime, end: datetime, model: str | None, chunk: int = 20_000
) -> AsyncIterator[list[dict[str, Any]]]:
    """The user's requests in ``[start, end)``, oldest first, ``chunk`` rows per query.

    Keyset pagination on (created_at, event_id): each query is a short range read on the ordering key,
    memory stays bounded by one chunk, and other queries interleave between chunks.
    """
    params: dict[str, Any] = {
        "db": ch.database, "user": str(user_id), "end": sql_ms(end), "model": model or "", "chunk": chunk,
        "first": True, "after_at": sql_ms(start), "after_id": "00000000-0000-0000-0000-000000000000",
    }
    while True:
        rows = await ch.query(EXPORT_SQL, params)
        if not rows:
            return
        last = rows[-1]
        params.update(first=False, after_at=last["cursor_at"], after_id=last["event_id"])
        yield rows
        if len(rows) < chunk:
            return
