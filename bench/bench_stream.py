"""Translator overhead per streamed chunk and added time to first byte, per provider.

Feeds a recorded 500-chunk upstream stream (as raw network reads) through the SSE parser and the
provider's translator, the same path `UpstreamStream` takes, without the network.
Run: `.venv/bin/python -m bench.bench_stream` (target: ≤ 50 µs per chunk).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import orjson

from gateway.providers.anthropic_adapter import AnthropicStreamTranslator
from gateway.providers.base import UpstreamCall
from gateway.providers.gemini_adapter import GeminiStreamTranslator
from gateway.providers.openai_adapter import OpenAIStreamTranslator
from gateway.providers.sse import SSEParser

CHUNKS = 500
ROUNDS = 30


def _sse(event: str | None, data: object) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def openai_stream() -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _sse(
            None,
            {
                "id": "chatcmpl-x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                "usage": None,
            },
        )

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": f" word{i}"}) for i in range(CHUNKS)]
    frames.append(chunk({}, "stop"))
    frames.append(
        _sse(
            None,
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt",
                "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": CHUNKS, "total_tokens": CHUNKS + 10},
            },
        )
    )
    return [*frames, b"data: [DONE]\n\n"]


def anthropic_stream() -> list[bytes]:
    frames = [
        _sse(
            "message_start",
            {"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}},
        ),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    frames += [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}},
        )
        for i in range(CHUNKS)
    ]
    frames += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": CHUNKS},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return frames


def gemini_stream() -> list[bytes]:
    def frame(text: str, finish: str | None = None) -> bytes:
        candidate: dict = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return _sse(
            None,
            {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1}},
        )

    return [frame(f" word{i}", "STOP" if i == CHUNKS - 1 else None) for i in range(CHUNKS)]


def make_call() -> UpstreamCall:
    return UpstreamCall(
        request={"messages": [], "stream": True, "stream_options": {"include_usage": True}},
        upstream_model="m",
        public_model="public",
        api_key="k",
        default_max_tokens=100,
        reasoning_model=False,
        response_id="chatcmpl-bench",
        created=1,
    )


def run(make_translator: Callable[[], object], reads: list[bytes]) -> tuple[float, float, int]:
    """(seconds for the whole stream, seconds until the first output frame, frames out)."""
    translator = make_translator()
    parser = SSEParser()
    out = 0
    first = None
    start = time.perf_counter()
    for read in reads:
        for event in parser.feed(read):
            frames = translator.on_event(event)  # type: ignore[attr-defined]
            if frames and first is None:
                first = time.perf_counter() - start
            out += len(frames)
    for event in parser.close():
        out += len(translator.on_event(event))  # type: ignore[attr-defined]
    if not translator.done:  # type: ignore[attr-defined]
        out += len(translator.on_eof())  # type: ignore[attr-defined]
    return time.perf_counter() - start, first or 0.0, out


def main() -> None:
    call = make_call()
    cases = {
        "openai": (lambda: OpenAIStreamTranslator(call), openai_stream()),
        "anthropic": (lambda: AnthropicStreamTranslator(call), anthropic_stream()),
        "google": (lambda: GeminiStreamTranslator(call), gemini_stream()),
    }
    print(f"{'provider':<10} {'per chunk µs (median)':>22} {'added TTFB µs':>14} {'frames out':>10}")
    for name, (factory, frames) in cases.items():
        totals, firsts, count = [], [], 0
        for _ in range(ROUNDS):
            total, first, count = run(factory, frames)
            totals.append(total)
            firsts.append(first)
        per_chunk = statistics.median(totals) / CHUNKS * 1e6
        print(f"{name:<10} {per_chunk:>22.1f} {statistics.median(firsts) * 1e6:>14.1f} {count:>10}")


if __name__ == "__main__":
    main()
