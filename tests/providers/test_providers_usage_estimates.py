"""Streams that end before the provider reports usage: the usage so far is estimated, never left at zero."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import httpx
import pytest

from gateway.providers import ProviderAdapter, close_adapters, create_adapters
from gateway.providers.base import Usage
from gateway.routing.classifier import classify, count_tokens
from tests.providers.provider_helpers import content_of, parse_frames, sse
from tests.providers.simulator_server import running_simulator
from tests.providers.test_providers_simulators import PROVIDERS, configs, sim_call, user

pytestmark = pytest.mark.anyio

SLOW_LONG = "Tell me about rivers. [[sim:tokens=300]] [[sim:tps=200]]"
CONTENT_CHUNKS_BEFORE_CANCEL = 18


@pytest.fixture(scope="module")
def sim_roots() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {p: stack.enter_context(running_simulator(p)) for p in PROVIDERS}


@pytest.fixture
async def adapters(sim_roots: dict[str, str]) -> AsyncIterator[dict[str, ProviderAdapter]]:
    made = create_adapters(configs(sim_roots), connect_timeout=2, idle_timeout=5)
    yield made
    await close_adapters(made)


def content_chunks(frames: list[bytes]) -> int:
    return sum(
        1
        for chunk in parse_frames(frames)
        if isinstance(chunk, dict) and chunk.get("choices") and chunk["choices"][0]["delta"].get("content")
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelled_stream_records_usage_so_far(
    adapters: dict[str, ProviderAdapter], provider: str
) -> None:
    request = user(SLOW_LONG, stream=True)
    stream = await adapters[provider].open_stream(sim_call(provider, request))
    frames: list[bytes] = []
    async for frame in stream:
        frames.append(frame)
        if content_chunks(frames) >= CONTENT_CHUNKS_BEFORE_CANCEL:
            break
    await stream.aclose()

    received = count_tokens(content_of(parse_frames(frames)))
    usage = stream.usage
    assert received > 0
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    visible = usage.completion_tokens - usage.reasoning_tokens  # Gemini also bills its thinking
    assert abs(visible - received) <= 0.3 * received, (usage, received)
    assert stream.finish_reason is None
    if provider == "google":  # Gemini reports cumulative counts on every chunk: nothing to estimate
        assert not usage.estimated
    else:
        assert usage.estimated


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_completed_stream_reports_the_providers_numbers(
    adapters: dict[str, ProviderAdapter], provider: str
) -> None:
    request = user(
        "Tell me about rivers. [[sim:tokens=40]]", stream=True, stream_options={"include_usage": True}
    )
    stream = await adapters[provider].open_stream(sim_call(provider, request))
    chunks = parse_frames([frame async for frame in stream])
    await stream.aclose()

    reported = next(c["usage"] for c in chunks if isinstance(c, dict) and c.get("usage"))
    ours = stream.usage.to_openai()
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert ours[key] == reported[key] > 0
    assert not stream.usage.estimated
    assert stream.finish_reason == "stop"


# -- recorded byte streams: what an upstream that stops mid-answer leaves behind -----------------------------

OPENAI_CUT = b"".join(
    sse(
        None,
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
        },
    )
    for word in ["Rivers", " carry", " water", " from", " the", " mountains", " to", " the", " sea", "."]
)
ANTHROPIC_CUT = (
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
                "usage": {"input_tokens": 77, "output_tokens": 1},
            },
        },
    )
    + sse(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    + b"".join(
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
        )
        for word in ["Rivers", " carry", " water", " from", " the", " mountains", " to", " the", " sea", "."]
    )
)


def adapter_over(provider: str, body: bytes) -> ProviderAdapter:
    from gateway.settings import ProviderConfig

    transport = httpx.MockTransport(
        lambda _: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    return create_adapters(
        {provider: ProviderConfig(provider, "http://upstream.test", "k")},
        connect_timeout=2,
        idle_timeout=5,
        transport=transport,
    )[provider]


@pytest.mark.parametrize(("provider", "body"), [("openai", OPENAI_CUT), ("anthropic", ANTHROPIC_CUT)])
async def test_stream_cut_short_upstream_estimates_missing_usage(provider: str, body: bytes) -> None:
    request = user("Tell me about rivers.", stream=True)
    adapter = adapter_over(provider, body)
    try:
        stream = await adapter.open_stream(sim_call(provider, request))
        frames = [frame async for frame in stream]
    finally:
        await adapter.aclose()

    assert stream.error is not None  # the stream ended without its end marker
    received = count_tokens(content_of(parse_frames(frames[:-1])))
    assert received == count_tokens("Rivers carry water from the mountains to the sea.")
    usage = stream.usage
    assert usage.estimated
    assert usage.completion_tokens == received
    if provider == "anthropic":
        assert usage.prompt_tokens == 77  # reported in message_start: kept
    else:
        assert usage.prompt_tokens == classify(request).prompt_tokens


def test_estimate_never_lowers_reported_figures() -> None:
    from gateway.providers.usage_estimate import StreamTally

    tally = StreamTally(user("hi"), ["one two"])
    tally.prompt_reported = True
    usage = tally.fill_unreported(Usage(prompt_tokens=500, completion_tokens=40))
    assert usage == Usage(prompt_tokens=500, completion_tokens=40)
    assert not usage.estimated
