"""``GET /health``: liveness, and with ``?deep=1`` readiness of every dependency with its latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import json_response
from gateway.state import get_state


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), 3)
        status = "ok"
        error = None
    except Exception as exc:
        status = "down"
        error = type(exc).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    result: dict[str, Any] = {"status": status, "latency_ms": latency_ms}
    if error:
        result["error"] = error
    return result


async def health(request: Request) -> Response:
    state = get_state(request)
    if request.query_params.get("deep") not in ("1", "true"):
        return json_response({"status": "ok"})

    async def postgres() -> None:
        await state.db.fetchval("SELECT 1")

    async def kafka() -> None:
        if not state.producer.connected and not state.producer.spool.is_empty():
            raise ConnectionError("kafka unreachable; events are spooling")

    checks = {
        "postgres": await _timed(postgres),
        "clickhouse": await _timed(state.clickhouse.ping),
        "kafka": await _timed(kafka),
    }
    checks["kafka"]["spool_bytes"] = state.producer.spool.size_bytes
    redis = state.extras.get("redis")
    if redis is not None:
        # Optional: without Redis the gateway keeps serving with per-process limits and no cache.
        checks["redis"] = await _timed(redis.ping)
        checks["redis"]["required"] = False
        checks["redis"]["rate_limits"] = "shared" if checks["redis"]["status"] == "ok" else "per_process"
    healthy = all(c["status"] == "ok" for c in checks.values() if c.get("required", True))
    return json_response(
        {"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503
    )
