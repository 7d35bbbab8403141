"""An unexpected exception answers 500 in the standard shape and keeps the client's connection usable."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.errors import EXCEPTION_HANDLERS, InternalErrorMiddleware
from infra.stack.processes import pick_free_ports


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):
                failed = client.get("/broken")
                assert failed.status_code == 500
                error = failed.json()["error"]
                assert (error["code"], error["message"]) == ("internal_error", "Internal server error")
                assert client.get("/fine").text == "ok"  # same keep-alive connection, still open
    finally:
        server.should_exit = True
        thread.join(10)
