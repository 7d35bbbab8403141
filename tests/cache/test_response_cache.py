"""The response cache's policy, key, stored format and stream replay, against a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal

import orjson
import pytest

from gateway.cache import CachedAnswer, ResponseCache, StreamCollector, cache_key, cache_policy
from gateway.providers.base import Usage
from gateway.redis_client import connect_redis
from gateway.settings import Settings

SETTINGS = Settings()
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def _answer(**overrides) -> CachedAnswer:
    base = CachedAnswer(
        model="gpt-4o-mini", provider="openai",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "Bonjour", "refusal": None},
                  "logprobs": None, "finish_reason": "stop"}],
        usage=Usage(prompt_tokens=12, completion_tokens=3), cost_usd=Decimal("0.0000036"),
    )  # fmt: skip
    return replace(base, **overrides)


@pytest.mark.parametrize(
    ("headers", "body", "read", "write"),
    [
        ({}, {"temperature": 0}, True, True),
        ({}, {"temperature": 0.0}, True, True),
        ({}, {}, False, False),  # default temperature is not deterministic
        ({}, {"temperature": 0.7}, False, False),
        ({}, {"temperature": False}, False, False),
        ({"x-switchyard-cache": "on"}, {"temperature": 0.7}, True, True),
        ({"x-switchyard-cache": "off"}, {"temperature": 0}, False, False),
        ({"cache-control": "no-store"}, {"temperature": 0}, False, False),
        ({"cache-control": "no-cache"}, {"temperature": 0}, False, True),
        ({"cache-control": "max-age=0, No-Cache"}, {"temperature": 0}, False, True),
    ],
)
def test_policy(headers: dict, body: dict, read: bool, write: bool) -> None:
    policy = cache_policy(SETTINGS, headers, body, "key-1")
    assert (policy.read, policy.write) == (read, write)


def test_policy_per_key_and_global_switch() -> None:
    per_key = replace(SETTINGS, cache_disabled_key_ids=frozenset({"key-1"}))
    assert not cache_policy(per_key, {}, BODY, "key-1").used
    assert cache_policy(per_key, {}, BODY, "key-2").used
    assert not cache_policy(replace(SETTINGS, cache_enabled=False), {}, BODY, "key-2").used


def test_key_ignores_transport_fields_but_not_content() -> None:
    key = cache_key("u1", "gpt-4o-mini", BODY)
    assert key == cache_key("u1", "gpt-4o-mini", {**BODY, "stream": True, "model": "gpt-4o",
                                                  "stream_options": {"include_usage": True}})
    assert key == cache_key("u1", "gpt-4o-mini", dict(reversed(list(BODY.items()))))
    assert key != cache_key("u2", "gpt-4o-mini", BODY)
    assert key != cache_key("u1", "claude-3-5-haiku", BODY)
    assert key != cache_key("u1", "gpt-4o-mini", {**BODY, "max_tokens": 5})
    assert key != cache_key("u1", "gpt-4o-mini", {**BODY, "messages": [{"role": "user", "content": "Hi"}]})
    assert key != cache_key("u1", "gpt-4o-mini", {**BODY, "response_format": {"type": "json_object"}})


def test_store_round_trip_ttl_and_size_cap(redis_url: str) -> None:
    async def scenario() -> tuple:
        redis = connect_redis(redis_url)
        try:
            cache = ResponseCache(redis, ttl_s=30, max_entry_bytes=2000)
            key = f"cache:v1:test-{uuid.uuid4().hex}"
            missing = await cache.get(key)
            stored = await cache.put(key, _answer())
            found = await cache.get(key)
            ttl = await redis.ttl(key)
            huge = _answer(choices=[{"index": 0, "message": {"role": "assistant", "content": "x" * 5000},
                                     "finish_reason": "stop"}])
            too_big = await cache.put(key + "-big", huge)
            return missing, stored, found, ttl, too_big, await redis.exists(key + "-big")
        finally:
            await redis.aclose()

    missing, stored, found, ttl, too_big, big_exists = asyncio.run(scenario())
    assert missing is None and stored
    assert found == _answer()
    assert 0 < ttl <= 30
    assert not too_big and big_exists == 0


def test_unreachable_redis_is_a_miss() -> None:
    async def scenario() -> tuple:
        redis = connect_redis("redis://127.0.0.1:1/0")
        try:
            cache = ResponseCache(redis, ttl_s=30, max_entry_bytes=2000)
            return await cache.get("cache:v1:x"), await cache.put("cache:v1:x", _answer())
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) == (None, False)


def test_replayed_stream_is_valid_sse_and_collects_back_to_the_answer() -> None:
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
    answer = _answer(choices=[
        {"index": 0, "message": {"role": "assistant", "content": "Bonjour", "refusal": None},
         "logprobs": None, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": None, "refusal": None,
                                 "tool_calls": [tool_call]}, "logprobs": None, "finish_reason": "tool_calls"},
    ])  # fmt: skip
    frames = answer.frames("chatcmpl-new", 1700000000, include_usage=True)

    assert frames[-1] == b"data: [DONE]\n\n"
    chunks = [orjson.loads(f[len(b"data: "):]) for f in frames[:-1]]
    assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in frames)
    assert all(c["id"] == "chatcmpl-new" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Bonjour"}

    collector = StreamCollector(max_bytes=100_000)
    for f in frames:
        collector.feed(f)
    assert collector.choices() == answer.choices


def test_collector_refuses_errors_unfinished_and_oversized_streams() -> None:
    errored = StreamCollector(100_000)
    errored.feed(b'data: {"error": {"code": "upstream_error", "message": "x"}}\n\n')
    assert errored.choices() is None

    unfinished = StreamCollector(100_000)
    unfinished.feed(b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n')
    assert unfinished.choices() is None

    small = StreamCollector(10)
    small.feed(b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}\n\n')
    assert small.choices() is None
