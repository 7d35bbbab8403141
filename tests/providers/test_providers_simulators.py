"""The adapters against the provider simulators over real HTTP (uvicorn in a background thread)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from gateway.providers import ProviderAdapter, UpstreamError, close_adapters, create_adapters
from gateway.settings import ProviderConfig
from tests.providers.provider_helpers import WEATHER_TOOL, content_of, make_call, parse_frames, tool_calls_of
from tests.providers.simulator_server import running_simulator
from tests.providers.test_providers_requests import CASES

pytestmark = pytest.mark.anyio

PROVIDERS = ["openai", "anthropic", "google"]
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5-20251001", "google": "gemini-2.5-flash"}
KEYS = {"openai": "sim-openai-key", "anthropic": "sim-anthropic-key", "google": "sim-google-key"}
CHAT_PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "google": "/v1beta/models/gemini-2.5-flash:generateContent",
}


@pytest.fixture(scope="module")
def sim_roots() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {p: stack.enter_context(running_simulator(p)) for p in PROVIDERS}


def configs(roots: dict[str, str]) -> dict[str, ProviderConfig]:
    return {p: ProviderConfig(p, roots[p] + ("/v1" if p == "openai" else ""), "") for p in roots}


@pytest.fixture
async def adapters(sim_roots: dict[str, str]) -> AsyncIterator[dict[str, ProviderAdapter]]:
    made = create_adapters(configs(sim_roots), connect_timeout=2, idle_timeout=5)
    yield made
    await close_adapters(made)


def sim_call(provider: str, request: dict[str, Any], **overrides: Any):
    values = {"upstream_model": MODELS[provider], "api_key": KEYS[provider], **overrides}
    return make_call(request, **values)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def stats(root: str) -> dict[str, Any]:
    return httpx.get(root + "/_sim/stats").json()


async def collect(stream) -> list[Any]:
    return parse_frames([frame async for frame in stream])


# -- every request shape, both modes, exact payload upstream ---------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_request_shapes_round_trip(adapters, sim_roots, provider: str, case: str, stream: bool) -> None:
    request = CASES[case][0]
    if stream:
        request = {**request, "stream": True, "stream_options": {"include_usage": True}}
    call = sim_call(provider, request)
    adapter = adapters[provider]
    expected_body = adapter.build_request(call, stream=stream)[1]
    if stream:
        chunks = await collect(await adapter.open_stream(call))
        assert chunks[-1] == "[DONE]", chunks[-1]
        finish = [c["choices"][0]["finish_reason"] for c in chunks[:-2] if c["choices"][0]["finish_reason"]]
        assert len(finish) == 1
        finish_reason = finish[0]
        assert chunks[-2]["usage"]["prompt_tokens"] > 0
    else:
        completion = await adapter.complete(call)
        body = completion.body
        assert (body["id"], body["model"], body["object"]) == (
            "chatcmpl-test123",
            "public-model",
            "chat.completion",
        )
        finish_reason = body["choices"][0]["finish_reason"]
        assert completion.usage.prompt_tokens > 0
        assert completion.usage.total_tokens == body["usage"]["total_tokens"]
    last = stats(sim_roots[provider])["last_request"]
    assert last["body"] == expected_body
    if "max_tokens" in case:
        assert finish_reason == "length"
    elif "max_completion_tokens" in case:  # Gemini's thinking counts against the output limit
        assert finish_reason in ("stop", "length")
    else:
        assert finish_reason in ("stop", "tool_calls")


# -- field cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "google"])
async def test_two_parallel_streamed_tool_calls(adapters, provider: str) -> None:
    request = user("Weather in Paris and Rome? [[sim:parallel_tools]]", tools=[WEATHER_TOOL], stream=True)
    stream = await adapters[provider].open_stream(sim_call(provider, request))
    chunks = await collect(stream)
    calls = tool_calls_of(chunks)
    assert sorted(calls) == [0, 1]
    assert len({c["id"] for c in calls.values()}) == 2
    assert all(c["name"] == "get_weather" for c in calls.values())
    for c in calls.values():
        assert isinstance(httpx.Response(200, content=c["arguments"]).json(), dict)
    assert stream.finish_reason == "tool_calls"


async def test_anthropic_cache_usage_same_streamed_and_not(adapters) -> None:
    request = user("Summarise [[sim:usage_cache_read=100]]")
    completion = await adapters["anthropic"].complete(sim_call("anthropic", request))
    stream = await adapters["anthropic"].open_stream(sim_call("anthropic", {**request, "stream": True}))
    await collect(stream)
    assert completion.usage.cached_tokens == stream.usage.cached_tokens == 100
    assert stream.usage.prompt_tokens == completion.usage.prompt_tokens > 100
    assert stream.usage.completion_tokens == completion.usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["safety", "blocked"])
async def test_gemini_safety_and_blocked_are_content_filter_answers(
    adapters, fault: str, stream: bool
) -> None:
    call = sim_call("google", user(f"Tell me [[sim:fault={fault}]]", stream=stream))
    if stream:
        s = await adapters["google"].open_stream(call)
        chunks = await collect(s)
        assert chunks[-1] == "[DONE]" and s.error is None
        finish = s.finish_reason
    else:
        finish = (await adapters["google"].complete(call)).body["choices"][0]["finish_reason"]
    assert finish == "content_filter"


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_thoughts_count_as_reasoning_completion_tokens(
    adapters, sim_roots, stream: bool
) -> None:
    call = sim_call("google", user("Think [[sim:reasoning=300]]", stream=stream))
    if stream:
        s = await adapters["google"].open_stream(call)
        await collect(s)
        usage = s.usage
    else:
        usage = (await adapters["google"].complete(call)).usage
    assert usage.reasoning_tokens == 300
    assert usage.completion_tokens > 300


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_carries_retry_after(adapters, provider: str, stream: bool) -> None:
    call = sim_call(provider, user("Hi [[sim:fault=429]] [[sim:retry_after=7]]", stream=stream))
    with pytest.raises(UpstreamError) as info:
        await (adapters[provider].open_stream(call) if stream else adapters[provider].complete(call))
    assert (info.value.status, info.value.code, info.value.retry_after, info.value.retryable) == (
        429,
        "rate_limited",
        7.0,
        True,
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_529_is_503_overloaded(adapters, stream: bool) -> None:
    call = sim_call("anthropic", user("Hi [[sim:fault=529]]", stream=stream))
    with pytest.raises(UpstreamError) as info:
        await (adapters["anthropic"].open_stream(call) if stream else adapters["anthropic"].complete(call))
    assert (info.value.status, info.value.code, info.value.upstream_status) == (
        503,
        "upstream_overloaded",
        529,
    )


async def test_anthropic_error_event_mid_stream(adapters) -> None:
    stream = await adapters["anthropic"].open_stream(
        sim_call("anthropic", user("Hi [[sim:fault=error_event]]"))
    )
    chunks = await collect(stream)
    assert chunks[-1]["error"]["code"] == "upstream_overloaded"
    assert "[DONE]" not in chunks and stream.finish_reason is None
    assert stream.error is not None and stream.usage.prompt_tokens > 0


async def test_gemini_error_mid_stream(adapters) -> None:
    stream = await adapters["google"].open_stream(
        sim_call("google", user("Hi [[sim:tokens=80]] [[sim:fault=error_event]]"))
    )
    chunks = await collect(stream)
    assert chunks[-1]["error"]["code"] == "upstream_unavailable"
    assert "[DONE]" not in chunks and stream.error is not None and stream.error.retryable


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_bad_provider_key(adapters, provider: str) -> None:
    with pytest.raises(UpstreamError) as info:
        await adapters[provider].complete(sim_call(provider, user("Hi"), api_key="wrong-key"))
    assert (info.value.status, info.value.code) == (502, "provider_auth_error")
    assert await adapters[provider].verify_key("wrong-key") is False
    assert await adapters[provider].verify_key(KEYS[provider]) is True


async def test_gemini_key_only_in_header(adapters, sim_roots) -> None:
    await adapters["google"].complete(sim_call("google", user("Hi")))
    last = stats(sim_roots["google"])["last_request"]
    assert last["auth_header"] == "x-goog-api-key" and last["key_in_query"] is False and last["query"] == {}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stalled_stream_ends_with_timeout_error_and_closes_upstream(sim_roots, provider: str) -> None:
    made = create_adapters(configs(sim_roots), connect_timeout=2, idle_timeout=0.5)
    before = stats(sim_roots[provider])["cancelled"]
    stream = await made[provider].open_stream(sim_call(provider, user("Hi [[sim:fault=stall]]", stream=True)))
    started = time.monotonic()
    chunks = await collect(stream)
    assert time.monotonic() - started < 5
    assert chunks[-1]["error"]["code"] == "timeout"
    assert stream.error is not None and stream.error.code == "timeout" and stream.error.status == 504
    await close_adapters(made)
    assert await wait_for(lambda: stats(sim_roots[provider])["cancelled"] > before)


# Pacing per provider: gaps between upstream frames stay well under the idle limit, the total is over it.
SLOW = {
    "openai": "[[sim:tokens=18]] [[sim:tps=6]]",
    "anthropic": "[[sim:tokens=18]] [[sim:tps=6]]",
    "google": "[[sim:tokens=48]] [[sim:tps=1.5]]",
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_healthy_stream_outlives_the_idle_timeout(sim_roots, provider: str) -> None:
    made = create_adapters(configs(sim_roots), connect_timeout=2, idle_timeout=1.5)
    request = user(f"Hi {SLOW[provider]}", stream=True)
    started = time.monotonic()
    stream = await made[provider].open_stream(sim_call(provider, request))
    chunks = await collect(stream)
    assert time.monotonic() - started > 2.0  # longer in total than the idle limit
    assert chunks[-1] == "[DONE]" and stream.error is None
    await close_adapters(made)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_utf8_split_across_reads_arrives_intact(adapters, provider: str) -> None:
    stream = await adapters[provider].open_stream(sim_call(provider, user("Hi [[sim:unicode]]", stream=True)))
    text = content_of(await collect(stream))
    assert "café" in text and "😀" in text and "\ufffd" not in text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancellation_reaches_the_upstream(adapters, sim_roots, provider: str) -> None:
    before = stats(sim_roots[provider])["cancelled"]
    request = user("Write [[sim:tokens=400]] [[sim:tps=20]]", stream=True)
    stream = await adapters[provider].open_stream(sim_call(provider, request))
    received = []
    async for frame in stream:
        received.append(frame)
        if len(received) == 3:
            break
    await stream.aclose()
    assert await wait_for(lambda: stats(sim_roots[provider])["cancelled"] > before)
    assert stream.usage.completion_tokens < 400


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_dropped_connection_mid_stream_is_an_error_frame(adapters, provider: str) -> None:
    stream = await adapters[provider].open_stream(sim_call(provider, user("Hi [[sim:fault=disconnect]]")))
    chunks = await collect(stream)
    assert "error" in chunks[-1] and stream.error is not None and stream.error.retryable


async def test_openai_stream_without_include_usage_hides_usage_but_records_it(adapters, sim_roots) -> None:
    stream = await adapters["openai"].open_stream(sim_call("openai", user("Hi", stream=True)))
    chunks = await collect(stream)
    assert all("usage" not in c for c in chunks[:-1]) and chunks[-1] == "[DONE]"
    assert stream.usage.prompt_tokens > 0 and stream.usage.completion_tokens > 0
    assert stats(sim_roots["openai"])["last_request"]["body"]["stream_options"] == {"include_usage": True}


async def test_openai_reasoning_model_request_accepted(adapters, sim_roots) -> None:
    call = sim_call(
        "openai", user("Hi", max_tokens=50, temperature=0.3), upstream_model="o4-mini", reasoning_model=True
    )
    await adapters["openai"].complete(call)
    body = stats(sim_roots["openai"])["last_request"]["body"]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body and "temperature" not in body


async def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()
