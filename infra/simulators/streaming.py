"""ASGI responses that pace output, notice clients going away and can misbehave on purpose.

A body is produced by an async iterator of `bytes` frames; two sentinels steer the writer:
`STALL` (send nothing more, wait for the client to give up) and `DROP` (abort the connection).
Frames holding multi-byte UTF-8 are written in two `send` calls split inside a character, so
clients must reassemble UTF-8 across network reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from .common import SimState

STALL = object()
DROP = object()
UTF8_SPLIT_PAUSE_S = 0.002


class ConnectionDropped(Exception):
    """Raised inside the app so the server tears the connection down mid-body."""


def sse_frame(data: Any, event: str | None = None, crlf: bool = False) -> bytes:
    """One Server-Sent Event frame; non-string `data` is written as compact JSON."""
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    eol = "\r\n" if crlf else "\n"
    head = f"event: {event}{eol}" if event else ""
    return f"{head}data: {payload}{eol}{eol}".encode()


def split_inside_character(frame: bytes) -> tuple[bytes, bytes] | None:
    """Cuts `frame` after the lead byte of its first multi-byte character, if it has one."""
    for position, byte in enumerate(frame):
        if byte >= 0xC0:
            return frame[: position + 1], frame[position + 1 :]
    return None


class SimulatedResponse:
    """Writes frames from `body` with disconnect detection; counts completed/cancelled in `state`.

    `eager_headers` sends the status line at once (streams); otherwise headers go out with the
    first frame (plain JSON answers that are delayed as a whole).
    """

    def __init__(
        self,
        body: AsyncIterator[Any],
        state: SimState,
        *,
        status: int = 200,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        eager_headers: bool,
        streamed: bool,
    ) -> None:
        self.body = body
        self.state = state
        self.status = status
        self.headers = [(b"content-type", media_type.encode())] + [
            (k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()
        ]
        self.eager_headers = eager_headers
        self.streamed = streamed
        self._started = False

    async def _start(self, send: Send) -> None:
        if not self._started:
            self._started = True
            await send({"type": "http.response.start", "status": self.status, "headers": self.headers})

    async def _write(self, send: Send) -> None:
        if self.eager_headers:
            await self._start(send)
        async for frame in self.body:
            if frame is STALL:
                await asyncio.Event().wait()
            if frame is DROP:
                await self._start(send)
                raise ConnectionDropped("simulated connection drop")
            await self._start(send)
            halves = split_inside_character(frame)
            if halves is None:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                continue
            await send({"type": "http.response.body", "body": halves[0], "more_body": True})
            await asyncio.sleep(UTF8_SPLIT_PAUSE_S)
            await send({"type": "http.response.body", "body": halves[1], "more_body": True})
        await self._start(send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.streamed:
            self.state.stream_started()

        async def wait_for_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(wait_for_disconnect())
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if writer.done():
            error = writer.exception()
            if error is None:
                self.state.finished(cancelled=False)
                return
            self.state.finished(cancelled=True)
            if isinstance(error, ConnectionDropped):
                raise error
            if isinstance(error, OSError):
                return
            raise error
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, Exception):
            await writer
        self.state.finished(cancelled=True)


Frame = tuple[Any, int]
"""A frame (bytes or a sentinel) and how many answer tokens it carries, for pacing."""


async def paced(frames: list[Frame], ttft_s: float, token_delay: Any) -> AsyncIterator[Any]:
    """Yields frames after `ttft_s`, then waits `token_delay(n)` before each later content frame."""
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    seen_content = False
    for frame, tokens in frames:
        if tokens and seen_content:
            delay = token_delay(tokens)
            if delay > 0:
                await asyncio.sleep(delay)
        seen_content = seen_content or tokens > 0
        yield frame


async def single(body: bytes, delay_s: float) -> AsyncIterator[Any]:
    """A whole body, after `delay_s` (the time a non-streamed answer takes)."""
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    yield body


async def only(sentinel: object) -> AsyncIterator[Any]:
    """A body that is just STALL (never answer) or DROP (abort the connection)."""
    yield sentinel


def hung_response(state: Any, fault: str | None, stream: bool) -> SimulatedResponse | None:
    """The ``timeout`` fault (and ``stall`` on a non-streaming request): accept, then never answer."""
    if fault == "timeout" or (fault == "stall" and not stream):
        return SimulatedResponse(
            only(STALL), state, media_type="application/json", eager_headers=False, streamed=stream
        )
    return None
