"""An unexpected exception answers 500 in the standard shape and keeps the client's connection usable."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.errors import EXCEPTION_HANDLERS, InternalErrorMiddleware
from infra.stack.processes import pick_free_ports
from tests.serving import serve_in_thread


async def broken(request):
    raise KeyError("a bug")


async def fine(request):
    return PlainTextResponse("ok")


def test_a_500_is_standard_and_the_next_request_on_the_same_connection_works() -> None:
    app = Starlette(
        routes=[Route("/broken", broken), Route("/fine", fine)],
        middleware=[Middleware(InternalErrorMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    port = pick_free_ports(1)[0]
    served = serve_in_thread(app, port, "error-app")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):
                failed = client.get("/broken")
                assert failed.status_code == 500
                error = failed.json()["error"]
                assert (error["code"], error["message"]) == ("internal_error", "Internal server error")
                assert client.get("/fine").text == "ok"  # same keep-alive connection, still open
    finally:
        served.stop(10)
