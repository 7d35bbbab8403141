"""The lean HTTP/1.1 transport against a real socket server: reuse, stale connections, bodies, timeouts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.providers.transport import LeanTransport


class Upstream:
    """A tiny HTTP/1.1 server: answers each request with the body it got, counts connections."""

    def __init__(self, *, close_after_each: bool = False, chunks: list[bytes] | None = None,
                 stall_after_headers: bool = False) -> None:
        self.connections = 0
        self.close_after_each = close_after_each
        self.chunks = chunks
        self.stall_after_headers = stall_after_headers
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                if self.chunks is not None:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for chunk in self.chunks:
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                elif self.stall_after_headers:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                    await writer.drain()
                    await asyncio.sleep(3600)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(mounts={"http://": LeanTransport()}, timeout=httpx.Timeout(5, read=0.5))


def test_keep_alive_connections_are_reused() -> None:
    async def run() -> None:
        upstream = Upstream()
        async with upstream as base, client() as http:
            bodies = [(await http.post(f"{base}/echo", content=b"x" * n)).content for n in (1, 10, 100)]
            assert bodies == [b"x", b"x" * 10, b"x" * 100]
        assert upstream.connections == 1

    asyncio.run(run())


def test_an_upstream_that_closes_idle_connections_is_retried_on_a_new_one() -> None:
    async def run() -> None:
        upstream = Upstream(close_after_each=True)
        async with upstream as base, client() as http:
            for i in range(3):
                response = await http.post(f"{base}/echo", content=b"%d" % i)
                assert response.content == b"%d" % i
                await asyncio.sleep(0.05)  # let the server's close arrive
        assert upstream.connections == 3

    asyncio.run(run())


def test_a_large_body_round_trips_and_chunked_responses_stream() -> None:
    async def run() -> None:
        big = bytes(range(256)) * 4096  # 1 MiB
        async with Upstream() as base, client() as http:
            assert (await http.post(f"{base}/echo", content=big)).content == big
        pieces = [b"data: caf\xc3", b"\xa9\n\n", b"data: [DONE]\n\n"]
        async with (
            Upstream(chunks=pieces) as base,
            client() as http,
            http.stream("POST", f"{base}/sse", content=b"{}") as response,
        ):
            received = b"".join([chunk async for chunk in response.aiter_raw()])
        assert received == b"".join(pieces)

    asyncio.run(run())


def test_a_stalled_body_raises_a_read_timeout() -> None:
    async def run() -> None:
        async with Upstream(stall_after_headers=True) as base, client() as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(f"{base}/stall", content=b"{}")

    asyncio.run(run())


def test_connection_refused_is_a_connect_error() -> None:
    async def run() -> None:
        async with Upstream() as base:
            pass  # closed again: nothing listens on that port now
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(f"{base}/echo", content=b"{}")

    asyncio.run(run())


def test_the_shared_client_never_replays_an_upstream_cookie() -> None:
    """One client serves every user, so a Set-Cookie from one answer must not reach the next request."""
    from gateway.providers.base import UpstreamCall
    from gateway.providers.openai_adapter import OpenAIAdapter
    from gateway.settings import ProviderConfig

    seen: list[bytes] = []
    answer = (
        b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            seen.append(head)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Set-Cookie: session=user-a-secret; Path=/\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
            await writer.drain()
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        adapter = OpenAIAdapter(ProviderConfig("openai", f"http://127.0.0.1:{port}/v1", "k"),
                                connect_timeout=5, idle_timeout=5)
        call = UpstreamCall(request={"messages": [{"role": "user", "content": "hi"}]},
                            upstream_model="m", public_model="m", api_key="k", default_max_tokens=16,
                            reasoning_model=False, response_id="chatcmpl-1", created=1)
        try:
            for _ in range(2):
                completion = await adapter.complete(call)
                assert completion.body["choices"][0]["message"]["content"] == "hi"
        finally:
            await adapter.aclose()
            server.close()

    asyncio.run(run())
    assert len(seen) == 2
    assert all(b"cookie" not in head.lower().replace(b"set-cookie", b"") for head in seen)
