"""Through the real gateway (openai SDK -> gateway -> Kafka -> in-process loader -> chdb): every
answered request becomes exactly one row equal to what the API returned, even across a Kafka outage."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import openai

from infra.stack import LocalStack
from tests.conftest import RunningGateway, new_account

ROWS_SQL = (
    "SELECT request_id, toString(user_id) AS uid, routed_model, provider, status, http_status, stream,"
    " input_tokens, output_tokens, toString(cost_usd) AS cost, cache_hit, length(attempts) AS attempts"
    " FROM usage_events WHERE user_id = {u:UUID}"
)
COUNT_SQL = "SELECT count() AS n FROM usage_events WHERE user_id = {u:UUID}"


def _client(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def _ask(client: openai.OpenAI, i: int, stream: bool) -> dict[str, Any]:
    """One request with a unique prompt (never a cache hit); what the API said about it."""
    messages = [{"role": "user", "content": f"Request {i} ({uuid.uuid4().hex}): name a colour."}]
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        reply = raw.parse()
        return {"request_id": reply.id, "routed_model": reply.model, "stream": False,
                "input_tokens": reply.usage.prompt_tokens, "output_tokens": reply.usage.completion_tokens,
                "cost": Decimal(raw.headers["x-switchyard-cost-usd"])}
    chunks = list(client.chat.completions.create(
        model="auto", messages=messages, stream=True, stream_options={"include_usage": True}
    ))
    usage = next(c.usage for c in chunks if c.usage is not None)
    assert len({c.id for c in chunks}) == 1
    return {"request_id": chunks[0].id, "routed_model": chunks[0].model, "stream": True,
            "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def _rows(gateway: RunningGateway, user_id: str, expected: int, timeout: float) -> list[dict[str, Any]]:
    found = gateway.wait_for_rows(COUNT_SQL, {"u": user_id}, expected, timeout=timeout)
    assert found >= expected, f"only {found} of {expected} usage rows arrived"
    time.sleep(1.5)  # a late duplicate would show up now
    return gateway.clickhouse(ROWS_SQL, {"u": user_id})


def test_every_request_becomes_exactly_one_matching_row(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    client = _client(gateway, account.gateway_key)
    answers = [_ask(client, i, stream=i % 3 == 0) for i in range(24)]

    rows = {row["request_id"]: row for row in _rows(gateway, account.user_id, 24, timeout=30)}
    assert len(rows) == 24 == len(gateway.clickhouse(ROWS_SQL, {"u": account.user_id}))
    for answer in answers:
        row = rows[answer["request_id"]]
        assert row["uid"] == account.user_id
        assert (row["status"], row["http_status"], row["cache_hit"]) == ("ok", 200, False)
        assert row["attempts"] >= 1 and row["provider"]
        assert row["routed_model"] == answer["routed_model"]
        assert row["stream"] is answer["stream"]
        assert row["input_tokens"] == answer["input_tokens"]
        assert row["output_tokens"] == answer["output_tokens"]
        if "cost" in answer:
            assert Decimal(row["cost"]) == answer["cost"]
        assert Decimal(row["cost"]) > 0


def test_kafka_outage_mid_load_loses_and_duplicates_nothing(
    gateway: RunningGateway, api: httpx.Client, stack: LocalStack
) -> None:
    accounts = [new_account(api) for _ in range(3)]  # stays under the per-key rate limit
    clients = [_client(gateway, a.gateway_key) for a in accounts]
    answered: list[dict[str, Any]] = []

    def load(seconds: float, start: int) -> None:
        deadline, i = time.monotonic() + seconds, start
        with ThreadPoolExecutor(3) as pool:
            while time.monotonic() < deadline:
                futures = [pool.submit(_ask, clients[k], i + k, (i + k) % 2 == 0) for k in range(3)]
                for k, future in enumerate(futures):  # .result() raises if a request failed
                    answered.append(future.result() | {"owner": accounts[k].user_id})
                i += 3
                time.sleep(0.4)

    try:
        load(4, 0)
        stack.stop_service("kafka")
        outage_started = len(answered)
        load(20, 10_000)
        assert len(answered) > outage_started + 20  # requests kept being served during the outage
        assert gateway.state.producer.spooled > 0 or gateway.state.producer.pending > 0
    finally:
        if not stack.services["kafka"].running:
            stack.start_service("kafka")
    load(4, 20_000)

    sent = {a["request_id"] for a in answered}
    assert len(sent) == len(answered)
    loaded: list[dict[str, Any]] = []
    for account in accounts:
        expected = sum(1 for a in answered if a["owner"] == account.user_id)
        loaded += _rows(gateway, account.user_id, expected, timeout=120)
    assert len(loaded) == len(answered), "an event was lost or loaded twice"
    assert {r["request_id"] for r in loaded} == sent
