"""Stream translation over recorded upstream byte sequences (provider stand-ins via httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from gateway.providers import ADAPTER_CLASSES
from gateway.providers.http_adapter import HttpAdapter
from gateway.settings import ProviderConfig
from tests.providers.provider_helpers import content_of, make_call, parse_frames, sse, tool_calls_of

pytestmark = pytest.mark.anyio

BASE_URLS = {"openai": "http://up.test/v1", "anthropic": "http://up.test", "google": "http://up.test"}


def adapter_for(provider: str, handler: Callable[[httpx.Request], httpx.Response]) -> HttpAdapter:
    config = ProviderConfig(provider, BASE_URLS[provider], "sim-valid-platform")
    return ADAPTER_CLASSES[provider](
        config, connect_timeout=2, idle_timeout=2, transport=httpx.MockTransport(handler)
    )


def streaming_handler(chunks: list[bytes], seen: list[httpx.Request] | None = None):
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return handler


async def run_stream(
    provider: str,
    chunks: list[bytes],
    *,
    include_usage: bool = True,
    request: dict[str, Any] | None = None,
    split: int | None = None,
):
    raw = b"".join(chunks)
    if split:
        chunks = [raw[i : i + split] for i in range(0, len(raw), split)]
    seen: list[httpx.Request] = []
    adapter = adapter_for(provider, streaming_handler(chunks, seen))
    client_request = request or {"messages": [{"role": "user", "content": "Hi"}], "stream": True}
    if include_usage:
        client_request = {**client_request, "stream_options": {"include_usage": True}}
    stream = await adapter.open_stream(make_call(client_request))
    frames = [frame async for frame in stream]
    await adapter.aclose()
    return parse_frames(frames), stream, seen


def assert_chunk_shape(chunks: list[Any], include_usage: bool) -> None:
    """Every chunk is a proper chat.completion.chunk with our id/model/created; usage key rules hold."""
    body = [c for c in chunks if isinstance(c, dict) and "error" not in c]
    for chunk in body:
        assert chunk["object"] == "chat.completion.chunk"
        assert (chunk["id"], chunk["model"], chunk["created"]) == (
            "chatcmpl-test123",
            "public-model",
            1700000000,
        )
    if include_usage:
        assert all(c["usage"] is None for c in body[:-1])
        assert body[-1]["choices"] == [] and body[-1]["usage"] is not None
    else:
        assert all("usage" not in c for c in body)
    first = next(c for c in body if c["choices"])
    assert first["choices"][0]["delta"].get("role") == "assistant"


# -- Anthropic ---------------------------------------------------------------------------------------


def anthropic_events(*, delta_usage: dict[str, Any], text: str = "Hello world") -> list[bytes]:
    return [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 25,
                        "cache_read_input_tokens": 100,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        sse("ping", {"type": "ping"}),
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[:5]}},
        ),
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[5:]}},
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": delta_usage,
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]


@pytest.mark.parametrize(
    "delta_usage",
    [
        {"output_tokens": 15},
        {
            "input_tokens": 25,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
            "output_tokens": 15,
        },
    ],
    ids=["output_only", "repeats_input_figures"],
)
async def test_anthropic_stream_usage_is_not_double_counted(delta_usage: dict[str, Any]) -> None:
    chunks, stream, seen = await run_stream("anthropic", anthropic_events(delta_usage=delta_usage))
    assert_chunk_shape(chunks, include_usage=True)
    assert chunks[-1] == "[DONE]"
    usage = chunks[-2]["usage"]
    assert usage == {
        "prompt_tokens": 125,
        "completion_tokens": 15,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert (stream.usage.prompt_tokens, stream.usage.cached_tokens, stream.usage.completion_tokens) == (
        125,
        100,
        15,
    )
    assert content_of(chunks) == "Hello world"
    finishes = [c["choices"][0] for c in chunks[:-2] if c["choices"][0]["finish_reason"]]
    assert finishes == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert stream.finish_reason == "stop" and stream.error is None and stream.first_token_at is not None
    sent = orjson.loads(seen[0].content)
    assert sent["stream"] is True and seen[0].url.path == "/v1/messages"
    assert seen[0].headers["x-api-key"] == "sim-valid-test-key"
    assert seen[0].headers["anthropic-version"] == "2023-06-01"


async def test_anthropic_stream_without_include_usage_has_no_usage_chunk_but_records_usage() -> None:
    chunks, stream, _ = await run_stream(
        "anthropic", anthropic_events(delta_usage={"output_tokens": 15}), include_usage=False
    )
    assert_chunk_shape(chunks, include_usage=False)
    assert chunks[-1] == "[DONE]" and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert stream.usage.completion_tokens == 15


async def test_anthropic_comments_pings_and_error_event() -> None:
    events = anthropic_events(delta_usage={"output_tokens": 15})[:4]
    events.insert(1, b": this is a comment\n\n")
    events.append(
        sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    events.append(sse("message_stop", {"type": "message_stop"}))  # nothing after an error is read
    chunks, stream, _ = await run_stream("anthropic", events)
    assert chunks[-1]["error"]["code"] == "upstream_overloaded"
    assert "[DONE]" not in chunks
    assert not any(c["choices"][0]["finish_reason"] for c in chunks[:-1] if c.get("choices"))
    assert stream.error is not None and stream.error.status == 503 and stream.error.retryable
    assert stream.finish_reason is None
    assert stream.usage.prompt_tokens == 125  # usage so far is kept
    assert all("ping" not in orjson.dumps(c).decode() for c in chunks)


async def test_anthropic_two_parallel_streamed_tool_calls() -> None:
    def block_start(index: int, block: dict[str, Any]) -> bytes:
        return sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )

    def json_delta(index: int, partial: str) -> bytes:
        return sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": partial},
            },
        )

    events = [
        sse(
            "message_start",
            {"type": "message_start", "message": {"usage": {"input_tokens": 50, "output_tokens": 1}}},
        ),
        block_start(0, {"type": "text", "text": ""}),
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        block_start(1, {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}}),
        json_delta(1, ""),
        json_delta(1, '{"city": "Pa'),
        json_delta(1, 'ris"}'),
        sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
        block_start(2, {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}),
        json_delta(2, '{"tz": "CET"}'),
        sse("content_block_stop", {"type": "content_block_stop", "index": 2}),
        sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}},
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    chunks, stream, _ = await run_stream("anthropic", events)
    assert tool_calls_of(chunks) == {
        0: {"id": "toolu_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_B", "name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    firsts = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if isinstance(c, dict)
        and c.get("choices")
        and c["choices"][0]["delta"].get("tool_calls")
        and "id" in c["choices"][0]["delta"]["tool_calls"][0]
    ]
    assert firsts == [
        {
            "index": 0,
            "id": "toolu_A",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {"index": 1, "id": "toolu_B", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    assert stream.finish_reason == "tool_calls"
    assert content_of(chunks) == "Checking."


async def test_anthropic_stream_cut_short_ends_with_error_frame() -> None:
    events = anthropic_events(delta_usage={"output_tokens": 15})[:4]
    chunks, stream, _ = await run_stream("anthropic", events)
    assert chunks[-1]["error"]["code"] == "upstream_error"
    assert stream.error is not None and stream.error.retryable


# -- OpenAI ------------------------------------------------------------------------------------------


def openai_chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-upstream",
        "system_fingerprint": "fp_x",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }
    return sse(None, payload)


OPENAI_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 3,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 1},
}
OPENAI_EVENTS = [
    openai_chunk({"role": "assistant", "content": ""}),
    openai_chunk({"content": "Hi"}),
    openai_chunk({"content": " there"}),
    openai_chunk({}, "stop"),
    openai_chunk(None, usage=OPENAI_USAGE),
    b"data: [DONE]\n\n",
]


@pytest.mark.parametrize("include_usage", [True, False])
async def test_openai_stream_restamps_and_strips_usage_when_not_asked(include_usage: bool) -> None:
    chunks, stream, seen = await run_stream("openai", OPENAI_EVENTS, include_usage=include_usage)
    assert_chunk_shape(chunks, include_usage=include_usage)
    assert content_of(chunks) == "Hi there"
    assert chunks[-1] == "[DONE]"
    assert len(chunks) == (6 if include_usage else 5)
    assert (
        stream.usage.prompt_tokens,
        stream.usage.cached_tokens,
        stream.usage.completion_tokens,
        stream.usage.reasoning_tokens,
    ) == (12, 4, 3, 1)
    sent = orjson.loads(seen[0].content)
    assert sent["stream_options"] == {"include_usage": True} and sent["model"] == "up-model"
    assert seen[0].headers["authorization"] == "Bearer sim-valid-test-key"
    assert seen[0].url.path == "/v1/chat/completions"


async def test_openai_error_frame_mid_stream() -> None:
    events = [
        *OPENAI_EVENTS[:2],
        sse(None, {"error": {"message": "server had an error", "type": "server_error"}}),
    ]
    chunks, stream, _ = await run_stream("openai", events)
    assert chunks[-1]["error"]["code"] == "upstream_error"
    assert stream.error is not None and stream.error.status == 502


# -- Gemini ------------------------------------------------------------------------------------------


def gemini_frame(
    parts: list[dict[str, Any]] | None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    index: int | None = None,
) -> bytes:
    payload: dict[str, Any] = {"modelVersion": "gemini-x", "responseId": "r1"}
    if parts is not None or finish:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}}
        if finish:
            candidate["finishReason"] = finish
        if index is not None:
            candidate["index"] = index
        payload["candidates"] = [candidate]
    if usage:
        payload["usageMetadata"] = usage
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


THOUGHTS_USAGE = {
    "promptTokenCount": 15,
    "candidatesTokenCount": 359,
    "thoughtsTokenCount": 661,
    "totalTokenCount": 1035,
}


async def test_gemini_stream_text_thoughts_and_latest_usage() -> None:
    events = [
        gemini_frame([{"text": "thinking hard", "thought": True}], usage={"promptTokenCount": 15}),
        gemini_frame([{"text": "café 😀 "}], usage={"promptTokenCount": 15, "candidatesTokenCount": 100}),
        gemini_frame([{"text": "日本語"}], "STOP", usage=THOUGHTS_USAGE),
    ]
    for split in (None, 1, 3):
        chunks, stream, seen = await run_stream("google", events, split=split)
        assert_chunk_shape(chunks, include_usage=True)
        assert content_of(chunks) == "café 😀 日本語"
        assert chunks[-2]["usage"]["completion_tokens"] == 1020
        assert chunks[-2]["usage"]["total_tokens"] == 1035
        assert (
            stream.usage.prompt_tokens,
            stream.usage.completion_tokens,
            stream.usage.reasoning_tokens,
        ) == (15, 1020, 661)
        assert stream.finish_reason == "stop"
    assert seen[0].url.path == "/v1beta/models/up-model:streamGenerateContent"
    assert seen[0].url.params.get("alt") == "sse" and "key" not in seen[0].url.params
    assert seen[0].headers["x-goog-api-key"] == "sim-valid-test-key"


async def test_gemini_two_parallel_function_calls_get_unique_ids() -> None:
    events = [
        gemini_frame(
            [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
            "STOP",
            usage={"promptTokenCount": 30, "candidatesTokenCount": 12},
        )
    ]
    chunks, stream, _ = await run_stream("google", events)
    calls = tool_calls_of(chunks)
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", "{}"),
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert calls[0]["id"] != calls[1]["id"]
    assert stream.finish_reason == "tool_calls"


async def test_gemini_safety_and_blocked_prompt_end_with_content_filter() -> None:
    safety = [
        gemini_frame([{"text": "Partial"}]),
        gemini_frame(None, "SAFETY", usage={"promptTokenCount": 5}),
    ]
    chunks, stream, _ = await run_stream("google", safety)
    assert stream.finish_reason == "content_filter" and chunks[-1] == "[DONE]" and stream.error is None
    blocked = [
        sse(
            None,
            {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            },
        )
    ]
    chunks, stream, _ = await run_stream("google", blocked)
    assert_chunk_shape(chunks, include_usage=True)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]] == [None, "content_filter"]
    assert content_of(chunks) == "" and chunks[-1] == "[DONE]"
    assert stream.usage.prompt_tokens == 9


async def test_gemini_stream_that_ends_without_finish_reason_is_an_error() -> None:
    chunks, stream, _ = await run_stream("google", [gemini_frame([{"text": "Hel"}])])
    assert chunks[-1]["error"]["code"] == "upstream_error"
    assert stream.error is not None


async def test_gemini_candidate_count_streams_each_choice() -> None:
    events = [
        gemini_frame([{"text": "A"}], index=0),
        gemini_frame([{"text": "B"}], "STOP", index=1),
        gemini_frame(None, "STOP", index=0, usage={"promptTokenCount": 1, "candidatesTokenCount": 2}),
    ]
    chunks, _, _ = await run_stream(
        "google", events, request={"messages": [{"role": "user", "content": "x"}], "n": 2}
    )
    assert content_of(chunks, 0) == "A" and content_of(chunks, 1) == "B"
    finishes = [
        (c["choices"][0]["index"], c["choices"][0]["finish_reason"])
        for c in chunks[:-2]
        if c["choices"][0]["finish_reason"]
    ]
    assert finishes == [(1, "stop"), (0, "stop")]
