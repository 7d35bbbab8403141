"""httpx's client (TLS context, HTTP/2) is made only when a call needs it: never for plain-HTTP upstreams."""

from __future__ import annotations

import asyncio

import httpx

from gateway.providers.base import UpstreamCall
from gateway.providers.openai_adapter import OpenAIAdapter
from gateway.settings import ProviderConfig

ANSWER = (
    b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)
CALL = UpstreamCall(request={"messages": [{"role": "user", "content": "hi"}]}, upstream_model="m",
                    public_model="m", api_key="k", default_max_tokens=16, reasoning_model=False,
                    response_id="chatcmpl-1", created=1)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            break
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
        await writer.drain()
    writer.close()


def test_plain_http_upstream_never_builds_the_httpx_client() -> None:
    async def run() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        adapter = OpenAIAdapter(ProviderConfig("openai", f"http://127.0.0.1:{port}/v1", "k"),
                                connect_timeout=5, idle_timeout=5)
        try:
            completion = await adapter.complete(CALL)
            assert completion.body["choices"][0]["message"]["content"] == "hi"
            stream = await adapter.open_stream(CALL)  # the same JSON body: read through the lean path
            await stream.aclose()
            assert await adapter.verify_key("k") is True
            assert adapter._client is None
        finally:
            await adapter.aclose()
            server.close()

    asyncio.run(run())


def test_the_client_is_made_on_first_use_and_closed_with_the_adapter() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=ANSWER, headers={"content-type": "application/json"})

    async def run() -> httpx.AsyncClient:
        adapter = OpenAIAdapter(ProviderConfig("openai", "https://api.example.test/v1", "k"),
                                connect_timeout=5, idle_timeout=5, transport=httpx.MockTransport(handler))
        assert adapter._client is None
        first = await adapter.complete(CALL)
        client = adapter._client
        assert client is not None and not client.is_closed
        second = await adapter.complete(CALL)
        assert adapter._client is client  # one pooled client for every call
        assert first.body["choices"] == second.body["choices"]
        await adapter.aclose()
        return client

    client = asyncio.run(run())
    assert client.is_closed
    assert seen == ["https://api.example.test/v1/chat/completions"] * 2


def test_closing_an_unused_adapter_makes_no_client() -> None:
    async def run() -> None:
        adapter = OpenAIAdapter(ProviderConfig("openai", "https://api.example.test/v1", "k"),
                                connect_timeout=5, idle_timeout=5)
        await adapter.aclose()
        assert adapter._client is None

    asyncio.run(run())
