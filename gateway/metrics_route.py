"""``GET /metrics``: this process's Prometheus metrics in the text exposition format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from gateway import metrics
from gateway.state import get_state


async def metrics_endpoint(request: Request) -> Response:
    state = getattr(request.app.state, "gw", None)
    if state is not None:
        metrics.SPOOL_BYTES.set(get_state(request).producer.spool.size_bytes)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
