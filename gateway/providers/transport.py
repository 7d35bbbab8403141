"""A lean HTTP/1.1 transport for httpx: asyncio protocol + httptools parser, keep-alive pool per origin.

httpx's default transport (httpcore on anyio) costs about a millisecond of CPU per request here, most of
it in cancel scopes, pool bookkeeping and per-connection readiness checks — more than everything else the
gateway does for a request. This transport keeps httpx's request/response API and timeouts but moves the
bytes with a few hundred function calls less per request: one protocol object per connection, a LIFO list
of idle connections per origin, and the C parser uvicorn already uses.

It speaks plain HTTP/1.1 and TLS HTTP/1.1; the client mounts it for ``http://`` upstreams and keeps the
HTTP/2-capable default transport for ``https://`` ones (see ``http_adapter.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

Origin = tuple[str, str, int]  # (scheme, host, port)
_HIGH_WATER = 256 * 1024  # pause reading from the socket while this much body waits for the reader


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


async def _within(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """Await ``future``, failing it with TimeoutError after ``timeout`` seconds.

    A timer on the future itself: cheaper than an ``asyncio.timeout`` scope or ``wait_for``.
    """
    if future.done() or timeout is None:
        return await future
    timer = asyncio.get_running_loop().call_later(timeout, _time_out, future)
    try:
        return await future
    finally:
        timer.cancel()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = True
        self.error: Exception | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response from upstream: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(httpx.RemoteProtocolError("upstream closed the connection before the response ended"))

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        if not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # -- helpers ------------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        if not self.headers_done.done():
            self.headers_done.set_exception(error)
            self.headers_done.exception()  # mark retrieved: the sender may already be gone
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, head: bytes, body: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise httpx.RemoteProtocolError("connection closed before the request was sent")
        self._reset()
        self.transport.write(head + body if len(body) < 64 * 1024 else head)
        if len(body) >= 64 * 1024:
            self.transport.write(body)

    async def next_chunk(self, timeout: float | None) -> bytes | None:
        """The next piece of body, or None at its end. Raises ReadTimeout after ``timeout`` idle seconds."""
        while not self.body:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await _within(self._wakeup, timeout)
            except TimeoutError:
                raise httpx.ReadTimeout("upstream sent nothing within the idle timeout") from None
            finally:
                self._wakeup = None
        chunk = self.body.popleft()
        self.buffered -= len(chunk)
        if self._paused and self.buffered < _HIGH_WATER // 2 and self.transport is not None:
            self.transport.resume_reading()
            self._paused = False
        return chunk


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, transport: LeanTransport, origin: Origin, conn: _Connection,
                 read_timeout: float | None) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._conn.next_chunk(self._read_timeout)
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.closed and conn.error is None:
            self._transport._release(self._origin, conn)
        else:
            conn.close()


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout = request.extensions.get("timeout", {})
    return timeout.get("connect"), timeout.get("read")


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle_per_origin: int = 64,
                 keepalive_expiry: float = 60.0) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle_per_origin
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        connect_timeout, read_timeout = _timeouts(request)
        body = request.content if isinstance(request.stream, httpx.ByteStream) else await request.aread()
        return await self.open(origin, self._head(request, body), body, connect_timeout, read_timeout)

    async def open(self, origin: Origin, head: bytes, body: bytes, connect_timeout: float | None,
                   read_timeout: float | None) -> httpx.Response:
        """Send a pre-rendered request; the response with its body still to be read (streamed)."""
        conn = await self._exchange(origin, head, body, connect_timeout, read_timeout)
        stream = _ResponseStream(self, origin, conn, read_timeout)
        return httpx.Response(conn.status, headers=conn.headers, stream=stream,
                              extensions={"http_version": b"HTTP/1.1"})

    async def fetch(self, origin: Origin, head: bytes, body: bytes, connect_timeout: float | None,
                    read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send a pre-rendered request and read the whole answer: (status, raw headers, body).

        The cheap path for non-streaming calls: no httpx request or response objects at all.
        """
        conn = await self._exchange(origin, head, body, connect_timeout, read_timeout)
        chunks: list[bytes] = []
        try:
            while (chunk := await conn.next_chunk(read_timeout)) is not None:
                chunks.append(chunk)
        except BaseException:
            conn.close()
            raise
        if conn.keep_alive and not conn.closed and conn.error is None:
            self._release(origin, conn)
        else:
            conn.close()
        return conn.status, conn.headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _exchange(self, origin: Origin, head: bytes, body: bytes, connect_timeout: float | None,
                        read_timeout: float | None) -> _Connection:
        """Send the request on a pooled (or new) connection and wait for the response headers."""
        for attempt in (0, 1):
            conn, reused = await self._acquire(origin, connect_timeout)
            try:
                conn.send(head, body)
                await _within(conn.headers_done, read_timeout)  # any failure closes the connection
            except TimeoutError:
                conn.close()
                raise httpx.ReadTimeout("upstream sent no response headers within the timeout") from None
            except httpx.RemoteProtocolError:
                conn.close()
                if reused and attempt == 0 and not conn.status:
                    continue  # the upstream closed an idle keep-alive connection just as we reused it
                raise
            except BaseException:
                conn.close()
                raise
            return conn
        raise AssertionError("unreachable")

    @staticmethod
    def _head(request: httpx.Request, body: bytes) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
        has_length = False
        for name, value in request.headers.raw:
            lowered = name.lower()
            if lowered == b"content-length":
                has_length = True
            elif lowered == b"transfer-encoding":
                continue  # the body is always sent whole, with a length
            lines.append(name + b": " + value)
        if body and not has_length:
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _acquire(self, origin: Origin, timeout: float | None) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._expiry:
                return conn, True
            conn.close()
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection, host, port,
                    ssl=(self._ssl or ssl.create_default_context()) if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                ),
                timeout,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"could not connect to {host}:{port} in time") from None
        except OSError as exc:
            raise httpx.ConnectError(f"could not connect to {host}:{port}: {exc.strerror or exc}") from None
        return conn, False

    def _release(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                with contextlib.suppress(Exception):
                    conn.close()
        self._idle.clear()
