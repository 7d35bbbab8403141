"""The response cache through the openai SDK: hits (plain and streamed), opt-outs, and what is not cached."""

from __future__ import annotations

import time

import httpx
import openai

from tests.conftest import RunningGateway, new_account

QUESTION = [{"role": "user", "content": "List three prime numbers."}]


def _client(gateway: RunningGateway, api: httpx.Client) -> openai.OpenAI:
    account = new_account(api)
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key, max_retries=0)


def _ask(client: openai.OpenAI, **kwargs):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=QUESTION, **kwargs)
    return raw.parse(), raw.headers


def _stream_text(client: openai.OpenAI, **kwargs) -> tuple[str, list, httpx.Headers]:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, stream=True, stream_options={"include_usage": True}, **kwargs
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks, raw.headers


def _metadata(reply) -> dict:
    return reply.model_extra["gateway_metadata"]


def test_a_deterministic_request_is_served_from_cache(gateway: RunningGateway, api: httpx.Client) -> None:
    client = _client(gateway, api)
    first, _ = _ask(client, temperature=0)
    time.sleep(0.2)  # the answer is stored just after it is sent
    second, headers = _ask(client, temperature=0)

    assert _metadata(first)["cache_hit"] is False and _metadata(first)["cost_usd"] > 0
    meta = _metadata(second)
    assert meta["cache_hit"] is True
    assert meta["cost_usd"] == 0
    assert meta["attempts"] == 0
    assert meta["latency_ms"] < _metadata(first)["latency_ms"]
    assert headers["x-switchyard-cache-hit"] == "true"
    assert second.id != first.id and second.id == headers["x-request-id"]
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.model == first.model
    assert second.usage.completion_tokens == first.usage.completion_tokens

    row = gateway.wait_for_rows(
        "SELECT count() AS n FROM usage_events WHERE request_id = {r:String} AND cache_hit AND cost_usd = 0",
        {"r": second.id}, 1,
    )  # fmt: skip
    assert row == 1


def test_a_streamed_hit_replays_as_sse(gateway: RunningGateway, api: httpx.Client) -> None:
    client = _client(gateway, api)
    text, _, first_headers = _stream_text(client, temperature=0)
    time.sleep(0.2)
    replay, chunks, headers = _stream_text(client, temperature=0)

    assert first_headers["x-switchyard-cache-hit"] == "false"
    assert headers["x-switchyard-cache-hit"] == "true"
    assert headers["content-type"].startswith("text/event-stream")
    assert replay == text and text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert {c.id for c in chunks} == {headers["x-request-id"]}
    # The same entry serves a non-streaming request too.
    plain, _ = _ask(client, temperature=0)
    assert _metadata(plain)["cache_hit"] is True and plain.choices[0].message.content == text


def test_opt_outs_and_non_deterministic_requests_reach_the_provider(
    gateway: RunningGateway, api: httpx.Client
) -> None:
    client = _client(gateway, api)
    _ask(client, temperature=0)
    time.sleep(0.2)
    off, _ = _ask(client, temperature=0, extra_headers={"x-switchyard-cache": "off"})
    no_store, _ = _ask(client, temperature=0, extra_headers={"Cache-Control": "no-store"})
    refresh, _ = _ask(client, temperature=0, extra_headers={"Cache-Control": "no-cache"})
    assert [_metadata(r)["cache_hit"] for r in (off, no_store, refresh)] == [False, False, False]
    assert all(_metadata(r)["cost_usd"] > 0 for r in (off, no_store, refresh))

    warm = _client(gateway, api)
    _ask(warm, temperature=0.7)
    _ask(warm)
    time.sleep(0.2)
    again_warm, _ = _ask(warm, temperature=0.7)
    again_default, _ = _ask(warm)
    assert _metadata(again_warm)["cache_hit"] is False
    assert _metadata(again_default)["cache_hit"] is False


def test_opt_in_header_caches_a_sampled_request(gateway: RunningGateway, api: httpx.Client) -> None:
    client = _client(gateway, api)
    first, _ = _ask(client, temperature=0.9, extra_headers={"x-switchyard-cache": "on"})
    time.sleep(0.2)
    second, _ = _ask(client, temperature=0.9, extra_headers={"x-switchyard-cache": "on"})
    assert _metadata(second)["cache_hit"] is True
    assert second.choices[0].message.content == first.choices[0].message.content


def test_answers_are_not_shared_between_users(gateway: RunningGateway, api: httpx.Client) -> None:
    _ask(_client(gateway, api), temperature=0)
    time.sleep(0.2)
    other, _ = _ask(_client(gateway, api), temperature=0)
    assert _metadata(other)["cache_hit"] is False
