"""One Lua script run over a pipelined Redis connection of its own: the rate limit's single round trip.

redis-py's command path (connection pool checkout, retry wrapper, argument packing, response callbacks)
cost more CPU than the rest of the rate limit together. This client does one thing: ``EVALSHA`` of one
script, with the command bytes packed directly, every caller's command written to one connection
(pipelined: the commands of one event-loop turn leave in one write; replies are matched in order) and
replies parsed by hiredis. A ``NOSCRIPT`` reply (Redis restarted or flushed its script cache) is
answered by sending the script itself with ``EVAL``.

Failures surface as ``OSError`` (connection refused or lost, timeouts) or ``RedisError`` (an error
reply), which the limiter turns into its fail-open mode. Plain TCP only: a client configured for TLS or
a Unix socket keeps redis-py's path (see ``ScriptClient.for_redis``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection as PlainTcpConnection
from redis.exceptions import ResponseError

Arg = int | str | bytes


def _bulk(value: Arg) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_command(*parts: Arg) -> bytes:
    """A command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(part) for part in parts)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("Redis did not answer in time"))


class _Pipe(asyncio.Protocol):
    """One connection: commands written as they come, replies handed to their callers in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.reader = hiredis.Reader()
        self.lost = False
        self.loop = asyncio.get_running_loop()
        self.outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter = self.waiters.popleft()
            if not waiter.done():  # a caller that timed out left its slot: the order holds
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("Redis closed the connection"))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue ``command``; everything queued in one turn of the event loop leaves in one write."""
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        if not self.outgoing:
            self.loop.call_soon(self._flush)
        self.outgoing.append(command)
        return waiter

    def _flush(self) -> None:
        data = b"".join(self.outgoing)
        self.outgoing.clear()
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()
        self.lost = True  # no new commands on it; connection_lost fails the ones still waiting


class ScriptClient:
    """``await client(keys, args)`` runs the script; one lazily opened connection per client."""

    def __init__(
        self,
        script: str,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float | None = 0.25,
        connect_timeout_s: float | None = 0.25,
    ) -> None:
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script).hexdigest().encode()
        self._address = (host, port)
        self._timeout = timeout_s
        self._connect_timeout = connect_timeout_s
        self._handshake: list[bytes] = []
        if password:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self._handshake.append(pack_command(*auth))
        if db:
            self._handshake.append(pack_command("SELECT", db))
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Future[_Pipe] | None = None

    @classmethod
    def for_redis(cls, redis: aioredis.Redis, script: str) -> ScriptClient | None:
        """A client for the server ``redis`` talks to, or None if it is not a plain TCP connection."""
        pool = redis.connection_pool
        if pool.connection_class is not PlainTcpConnection:
            return None
        kwargs = pool.connection_kwargs
        return cls(
            script,
            kwargs.get("host", "localhost"),
            int(kwargs.get("port", 6379)),
            db=int(kwargs.get("db", 0) or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            timeout_s=kwargs.get("socket_timeout"),
            connect_timeout_s=kwargs.get("socket_connect_timeout") or kwargs.get("socket_timeout"),
        )

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        command = pack_command("EVALSHA", self._sha, len(keys), *keys, *args)
        try:
            pipe = await self._ready_pipe()
            reply = await self._exchange(pipe, command)
        except OSError:
            # One immediate retry on a fresh connection (as redis-py's client is configured to do):
            # it rides over a Redis restart or one stalled reply.
            pipe = await self._ready_pipe()
            reply = await self._exchange(pipe, command)
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._exchange(pipe, pack_command("EVAL", self._script, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def _ready_pipe(self) -> _Pipe:
        pipe = self._pipe
        if pipe is None or pipe.lost or pipe.loop is not asyncio.get_running_loop():
            pipe = await self._connect()
        return pipe

    async def _exchange(self, pipe: _Pipe, command: bytes) -> Any:
        waiter = pipe.send(command)
        if self._timeout is None:
            return await waiter
        # A timer on the reply itself: cheaper than an ``asyncio.timeout`` scope around the await.
        timer = pipe.loop.call_later(self._timeout, _expire, waiter)
        try:
            return await waiter
        except TimeoutError:
            pipe.close()  # a stalled server: the next call opens a fresh connection
            raise
        finally:
            timer.cancel()

    async def _connect(self) -> _Pipe:
        """The connection, opened once however many callers are waiting for it."""
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not asyncio.get_running_loop():
            connecting = self._connecting = asyncio.ensure_future(self._open())
            connecting.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, always
        try:
            return await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None

    async def _open(self) -> _Pipe:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            _, pipe = await loop.create_connection(_Pipe, *self._address)
        try:
            for command in self._handshake:
                reply = await self._exchange(pipe, command)
                if isinstance(reply, hiredis.ReplyError):
                    raise ResponseError(str(reply))
        except BaseException:
            pipe.close()
            raise
        self._pipe = pipe
        return pipe

    async def aclose(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
