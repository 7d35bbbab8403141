"""The server protocol that sends a response's head and body in one write."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.http_protocol import CoalescingTransport
from infra.stack.processes import pick_free_ports


class RecordingTransport:
    """Stands in for a socket transport: records each write it is asked to make."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_loop_turn_leave_together_and_close_flushes_first() -> None:
    async def scenario() -> tuple[list[bytes], int, list[bytes], bool, str]:
        raw = RecordingTransport()
        transport = CoalescingTransport(raw)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        pending = transport.get_write_buffer_size()
        await asyncio.sleep(0)
        first_turn = list(raw.writes)
        transport.write(b"last")
        transport.close()
        return first_turn, pending, raw.writes, raw.closed, transport.get_extra_info("peername")

    first_turn, pending, writes, closed, info = asyncio.run(scenario())
    assert first_turn == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert pending == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    assert writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"last"] and closed
    assert info == "info:peername"


async def answer(request: Request) -> Response:
    return JSONResponse({"echo": (await request.body()).decode()})


async def stream(request: Request) -> Response:
    async def chunks():
        for i in range(3):
            await asyncio.sleep(0.01)
            yield f"data: {i}\n\n".encode()

    return StreamingResponse(chunks(), media_type="text/event-stream")


def test_json_answers_and_streams_over_keep_alive_connections() -> None:
    app = Starlette(routes=[Route("/answer", answer, methods=["POST"]), Route("/stream", stream)])
    port = pick_free_ports(1)[0]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http="gateway.http_protocol:CoalescingHttpToolsProtocol",
        log_config=None, access_log=False, lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for i in range(5):
                assert client.post("/answer", content=f"hi {i}").json() == {"echo": f"hi {i}"}
            assert client.get("/stream").text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
            assert client.post("/answer", content="after").json() == {"echo": "after"}
    finally:
        server.should_exit = True
        thread.join(15)
