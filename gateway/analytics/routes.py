"""Analytics endpoints."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.guard import current_user
from gateway.errors import ApiError
from gateway.http import json_response
from gateway.state import get_state

TIMEFRAMES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _timeframe(request: Request) -> timedelta:
    value = request.query_params.get("timeframe", "24h")
    if value not in TIMEFRAMES:
        raise ApiError(400, "invalid_parameter", f"timeframe must be one of {list(TIMEFRAMES)}",
                       {"parameter": "timeframe"})
    return TIMEFRAMES[value]


async def overview(request: Request) -> Response:
    user = await current_user(request)
    span = _timeframe(request)
    state = get_state(request)
    seconds = int(span.total_seconds())
    rows = await state.clickhouse.query(
        """
        SELECT
            countIf(created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS requests,
            sumIf(cost_usd, created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS cost,
            avgIf(latency_ms, created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS avg_latency,
            countIf(cache_hit AND created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS hits,
            sumIf(input_tokens, created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS input_tokens,
            sumIf(output_tokens, created_at >= now64(3) - toIntervalSecond({s:UInt32})) AS output_tokens,
            sumIf(cost_usd, created_at < now64(3) - toIntervalSecond({s:UInt32})) AS previous_cost
        FROM usage_events
        WHERE user_id = {u:UUID} AND created_at >= now64(3) - toIntervalSecond({s2:UInt32})
        """,
        {"u": str(user.id), "s": seconds, "s2": 2 * seconds},
    )
    row = rows[0]
    requests = int(row["requests"])
    cost = row["cost"]
    previous = row["previous_cost"]
    change = None if not previous else round(float((cost - previous) / previous * 100), 2)
    return json_response({
        "total_cost": float(cost),
        "total_requests": requests,
        "avg_latency_ms": round(float(row["avg_latency"]), 2) if requests else 0.0,
        "cache_hit_rate": round(int(row["hits"]) / requests, 4) if requests else 0.0,
        "tokens_used": {"input": int(row["input_tokens"]), "output": int(row["output_tokens"])},
        "cost_change_percent": change,
    })


routes = [Route("/api/analytics/overview", overview, methods=["GET"])]
