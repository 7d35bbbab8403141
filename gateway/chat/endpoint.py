"""``POST /v1/chat/completions`` as a plain ASGI entry point, ahead of Starlette's router and middleware.

Through the stack, every chat request passes seven ASGI layers (Starlette's error and exception
middleware, request id, internal error, the /api rate limit, the router, the endpoint wrapper), each
wrapping ``send`` again. This entry point does for this one route what those layers do, and nothing
else: the metrics sample and access-log line of ``RequestIdMiddleware`` (the handler sets its own
``x-request-id``), the standard 500 of ``InternalErrorMiddleware``, and the standard error shape for an
``ApiError``. The /api rate limit does not apply to ``/v1``.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.chat.handler import chat_completions
from gateway.errors import ApiError, error_response
from gateway.request_id import HEADER, log_access, new_request_id, record_response_start

log = logging.getLogger("switchyard.errors")

CHAT_PATH = "/v1/chat/completions"


def is_chat_request(scope: Scope) -> bool:
    """True for the requests this entry point serves (anything else goes through the router)."""
    return (
        scope["type"] == "http"
        and scope["path"] == CHAT_PATH
        and scope["method"] == "POST"
        and not scope.get("root_path")
    )


def _request_id(response: Response) -> str:
    for name, value in response.raw_headers:
        if name == HEADER:
            return value.decode("latin-1")
    return ""


async def serve_chat(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one chat request on behalf of ``app`` (whose ``state`` holds the gateway's services)."""
    started = time.perf_counter()
    scope["app"] = app
    try:
        response = await chat_completions(Request(scope, receive))
    except ApiError as exc:
        response = error_response(
            exc.status, exc.code, exc.message, exc.details, {**exc.headers, "x-request-id": new_request_id()}
        )
    except Exception:
        log.exception("unhandled error on POST %s", CHAT_PATH)
        response = error_response(
            500, "internal_error", "Internal server error", headers={"x-request-id": new_request_id()}
        )
    status = response.status_code
    record_response_start(CHAT_PATH, "POST", status, started)
    try:
        await response(scope, receive, send)
    except Exception:
        # Mid-response: nothing sane to send; the server ends the connection.
        log.exception("unhandled error on POST %s", CHAT_PATH)
        raise
    finally:
        log_access("POST", CHAT_PATH, status, started, _request_id(response))
