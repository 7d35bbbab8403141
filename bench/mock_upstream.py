"""A fast OpenAI-compatible upstream for gateway benchmarks: ``POST */chat/completions`` only.

Raw asyncio protocol + httptools (uvloop when present), no framework, so that it is never the
bottleneck: it answers a fixed small completion, or an SSE stream of ``--chunks`` chunks when the
request says ``"stream": true`` (with a final usage chunk, as OpenAI sends for ``include_usage``).
``--delay-ms`` holds every answer for a fixed time without blocking the loop. Any API key is accepted.

Run: ``python -m bench.mock_upstream --port 19810 [--delay-ms 20] [--chunks 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

import httptools
import orjson

MODEL = "gpt-4.1-nano"
PROMPT_TOKENS = 12
COMPLETION_TOKENS = 9


def completion_body() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! How can I help you today?",
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
            "system_fingerprint": "fp_mock",
        }
    )


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> bytes:
    payload = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if choices
        else [],
        "usage": usage,
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_frames(chunks: int) -> list[bytes]:
    """``chunks`` content chunks (the first carries the role), a finish chunk, a usage chunk, [DONE]."""
    frames = [_chunk({"role": "assistant", "content": "w0"})]
    frames += [_chunk({"content": f" w{i}"}) for i in range(1, chunks)]
    frames.append(_chunk({}, "stop"))
    usage = {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": chunks,
        "total_tokens": PROMPT_TOKENS + chunks,
    }
    frames.append(_chunk({}, usage=usage, choices=False))
    frames.append(b"data: [DONE]\n\n")
    return frames


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Answers:
    """Pre-rendered response bytes: the server only copies them out."""

    def __init__(self, chunks: int) -> None:
        body = completion_body()
        self.complete = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: keep-alive\r\n\r\n%s" % (len(body), body)
        )
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
        )
        self.stream_head = head
        self.stream_chunks = [_http_chunk(frame) for frame in stream_frames(chunks)]
        self.stream_end = b"0\r\n\r\n"
        not_found = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
        self.not_found = (
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(not_found), not_found)
        )


class MockProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests on it are answered in order."""

    def __init__(self, answers: Answers, delay_s: float) -> None:
        self.answers = answers
        self.delay_s = delay_s
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        url = self.url
        self.url, self.body = b"", []
        streaming = b'"stream":true' in body.replace(b" ", b"")
        if not url.split(b"?")[0].endswith(b"/chat/completions"):
            self._write([self.answers.not_found])
            return
        parts = (
            [self.answers.stream_head, *self.answers.stream_chunks, self.answers.stream_end]
            if streaming
            else [self.answers.complete]
        )
        if self.delay_s > 0:
            asyncio.get_running_loop().call_later(self.delay_s, self._write, parts)
        else:
            self._write(parts)

    def _write(self, parts: list[bytes]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(parts)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, delay_ms: float, chunks: int) -> None:
    loop = asyncio.get_running_loop()
    answers = Answers(chunks)
    server = await loop.create_server(
        lambda: MockProtocol(answers, delay_ms / 1000), host, port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream on http://{host}:{port} delay={delay_ms}ms chunks={chunks}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19810)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass
    asyncio.run(serve(args.host, args.port, args.delay_ms, args.chunks))


if __name__ == "__main__":
    main()
