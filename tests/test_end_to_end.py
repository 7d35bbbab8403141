"""One real request the whole way: signup -> gateway key -> openai SDK -> Kafka -> ClickHouse -> analytics."""

from __future__ import annotations

import time

import httpx
import openai

from tests.conftest import RunningGateway, new_account


def test_a_request_travels_from_the_sdk_to_analytics(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key, max_retries=0)

    reply = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Say hello in French, please."}]
    )

    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    metadata = reply.model_extra["gateway_metadata"]
    assert metadata["routed_to"] == reply.model
    assert metadata["complexity"] == "simple"
    assert metadata["cache_hit"] is False
    assert metadata["cost_usd"] > 0
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0

    deadline = time.monotonic() + 20
    overview: dict = {}
    while time.monotonic() < deadline:
        overview = api.get("/api/analytics/overview", headers=account.auth).json()
        if overview["total_requests"] >= 1:
            break
        time.sleep(0.25)

    assert overview["total_requests"] == 1
    assert overview["tokens_used"] == {
        "input": reply.usage.prompt_tokens,
        "output": reply.usage.completion_tokens,
    }
    assert round(overview["total_cost"], 6) == round(metadata["cost_usd"], 6)
    assert overview["cache_hit_rate"] == 0.0
    assert overview["avg_latency_ms"] > 0


def test_the_usage_row_matches_the_response(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Name three colours."}]
    )
    reply = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert request_id == reply.id

    found = gateway.wait_for_rows(
        "SELECT count() AS n FROM usage_events WHERE request_id = {r:String}", {"r": request_id}, 1
    )
    assert found == 1
    row = gateway.clickhouse(
        "SELECT toString(user_id) AS user_id, routed_model, provider, status, http_status, input_tokens,"
        " output_tokens, toString(cost_usd) AS cost, stream FROM usage_events WHERE request_id = {r:String}",
        {"r": request_id},
    )[0]
    assert row["user_id"] == account.user_id
    assert row["routed_model"] == reply.model
    assert row["status"] == "ok" and row["http_status"] == 200 and row["stream"] is False
    assert row["input_tokens"] == reply.usage.prompt_tokens
    assert row["output_tokens"] == reply.usage.completion_tokens
    assert float(row["cost"]) == reply.model_extra["gateway_metadata"]["cost_usd"]


def test_a_utf8_user_agent_is_stored_as_sent(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    agent = 'ünïcødé 🚀 "quoted", with commas'
    reply = api.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Name three colours."}]},
        headers={"Authorization": f"Bearer {account.gateway_key}", "User-Agent": agent.encode()},
    )
    assert reply.status_code == 200, reply.text
    request_id = reply.headers["x-request-id"]
    assert gateway.wait_for_rows(
        "SELECT count() AS n FROM usage_events WHERE request_id = {r:String}", {"r": request_id}, 1
    ) == 1
    row = gateway.clickhouse("SELECT user_agent FROM usage_events WHERE request_id = {r:String}",
                             {"r": request_id})[0]
    assert row["user_agent"] == agent
