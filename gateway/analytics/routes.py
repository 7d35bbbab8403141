"""``/api/analytics/*`` routes: parse and validate the query string, then run the report for the
signed-in user. Validation happens before any query, so a bad value is always a clean 400."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.analytics import params, reports
from gateway.analytics.export import ENCODERS, MEDIA_TYPES
from gateway.analytics.export_query import export_chunks
from gateway.analytics.request_log import requests_page
from gateway.auth.guard import current_user
from gateway.http import json_response
from gateway.state import get_state


async def overview(request: Request) -> Response:
    user = await current_user(request)
    name, span = params.timeframe(request.query_params)
    body = await reports.overview(get_state(request).clickhouse, user.id, span, datetime.now(UTC))
    return json_response({"timeframe": name, **body})


async def cost_breakdown(request: Request) -> Response:
    user = await current_user(request)
    days = params.breakdown_days(request.query_params)
    tz = params.timezone(request.query_params)
    body = await reports.cost_breakdown(get_state(request).clickhouse, user.id, days, tz, datetime.now(UTC))
    return json_response(body)


async def model_distribution(request: Request) -> Response:
    user = await current_user(request)
    name, span = params.timeframe(request.query_params)
    body = await reports.model_distribution(get_state(request).clickhouse, user.id, span, datetime.now(UTC))
    return json_response({"timeframe": name, **body})


async def requests(request: Request) -> Response:
    user = await current_user(request)
    query = request.query_params
    page, limit, model = params.page(query), params.page_size(query), params.model(query)
    body = await requests_page(get_state(request).clickhouse, user.id, page, limit, model)
    return json_response(body)


async def export(request: Request) -> Response:
    user = await current_user(request)
    query = request.query_params
    fmt = params.export_format(query)
    tz = params.timezone(query)
    span = params.export_range(query, datetime.now(UTC), tz)
    model = params.model(query)
    chunks = export_chunks(get_state(request).clickhouse, user.id, span.start, span.end, model, fmt)
    filename = f"switchyard-usage-{span.from_label}-{span.to_label}.{fmt}"
    return StreamingResponse(
        ENCODERS[fmt](chunks),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


routes = [
    Route("/api/analytics/overview", overview, methods=["GET"]),
    Route("/api/analytics/cost-breakdown", cost_breakdown, methods=["GET"]),
    Route("/api/analytics/model-distribution", model_distribution, methods=["GET"]),
    Route("/api/analytics/requests", requests, methods=["GET"]),
    Route("/api/analytics/export", export, methods=["GET"]),
]
