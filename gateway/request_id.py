"""Every HTTP response gets an ``x-request-id``, a metrics sample and one structured access-log line.

A pure ASGI middleware: it only looks at the response start, so streaming bodies pass untouched.
Routes that make their own id (the chat handler's ``chatcmpl-...``) keep it. The log line carries
method, route template, status and duration: never headers, query strings or bodies.
"""

from __future__ import annotations

import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.logs import JsonLineWriter

log = logging.getLogger("switchyard.access")
_access_lines = JsonLineWriter(log)

HEADER = b"x-request-id"


def new_request_id() -> str:
    return "req_" + secrets.token_urlsafe(12)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def record_response_start(route: str, method: str, status: int, started: float) -> None:
    """The metrics sample of a response, taken when its status is known."""
    metrics.labelled(metrics.HTTP_REQUESTS, route, method, str(status)).inc()
    metrics.labelled(metrics.HTTP_SECONDS, route).observe(time.perf_counter() - started)


def log_access(method: str, route: str, status: int, started: float, request_id: str) -> None:
    """The one access-log line of a finished response (an INFO line of ``switchyard.access``)."""
    if log.isEnabledFor(logging.INFO):
        _access_lines.write(
            f"{method} {route} {status} {(time.perf_counter() - started) * 1000:.1f}ms", request_id
        )


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                existing = next((v for k, v in headers if k.lower() == HEADER), None)
                if existing is None:
                    headers.append((HEADER, request_id.encode()))
                    message = {**message, "headers": headers}
                else:
                    request_id = existing.decode("latin-1")
                record_response_start(_route_template(scope), scope["method"], status, started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_access(scope["method"], _route_template(scope), status, started, request_id)
