"""Fallbacks and circuit breakers through the real gateway, with faults injected into the simulators."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from gateway.chat.breaker import CircuitBreaker
from gateway.routing.pricing import cost_usd
from tests.conftest import RunningGateway, new_account

PINNED = "claude-haiku-4-5"


@pytest.fixture()
def anthropic_sim(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """The Anthropic simulator's control API, with any armed fault cleared afterwards."""
    base = gateway.state.settings.providers["anthropic"].base_url.rstrip("/")
    with httpx.Client(base_url=base, timeout=10) as client:
        client.delete("/_sim/faults")
        yield client
        client.delete("/_sim/faults")


@pytest.fixture()
def fast_breaker(gateway: RunningGateway) -> Iterator[CircuitBreaker]:
    """A breaker that opens after 3 failures and cools down in 1 s, swapped in for this test only."""
    saved = gateway.state.extras["breaker"]
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=1.0)
    gateway.state.extras["breaker"] = breaker
    yield breaker
    gateway.state.extras["breaker"] = saved


def _client(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def _ask(client: openai.OpenAI, model: str, text: str = "Name a colour.") -> tuple[str, dict, str]:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    reply = raw.parse()
    return reply.model, reply.model_extra["gateway_metadata"], raw.headers["x-request-id"]


def _sim_requests(sim: httpx.Client) -> int:
    return int(sim.get("/_sim/stats").json()["requests"])


def test_overloaded_provider_is_answered_by_the_next_with_both_attempts_in_one_event(
    gateway: RunningGateway, api: httpx.Client, anthropic_sim: httpx.Client, fast_breaker: CircuitBreaker
) -> None:
    account = new_account(api)
    anthropic_sim.post("/_sim/faults", json={"fault": "529", "count": 1})

    raw = _client(gateway, account.gateway_key).chat.completions.with_raw_response.create(
        model=PINNED, messages=[{"role": "user", "content": "Name a colour."}]
    )
    reply = raw.parse()
    metadata = reply.model_extra["gateway_metadata"]
    request_id = raw.headers["x-request-id"]

    assert reply.model != PINNED and metadata["routed_to"] == reply.model
    assert raw.headers["x-switchyard-routed-to"] == reply.model
    assert anthropic_sim.get("/_sim/stats").json()["faults"].get("529") == 1

    assert gateway.wait_for_rows(
        "SELECT count() AS n FROM usage_events WHERE request_id = {r:String}", {"r": request_id}, 1
    ) == 1
    row = gateway.clickhouse(
        "SELECT requested_model, routed_model, status, attempts, input_tokens, cached_input_tokens,"
        " output_tokens, toString(cost_usd) AS cost FROM usage_events WHERE request_id = {r:String}",
        {"r": request_id},
    )[0]
    assert row["requested_model"] == PINNED and row["routed_model"] == reply.model
    assert row["status"] == "ok"
    attempts = row["attempts"]
    assert [(a["model"], a["outcome"], a["http_status"]) for a in attempts] == [
        (PINNED, "upstream_overloaded", 503),
        (reply.model, "ok", 200),
    ]
    assert attempts[0]["provider"] == "anthropic" and attempts[1]["provider"] != "anthropic"
    # Only the attempt that answered is billed.
    model = gateway.state.catalog.get(reply.model)
    billed = cost_usd(model, input_tokens=row["input_tokens"],
                      cached_input_tokens=row["cached_input_tokens"], output_tokens=row["output_tokens"])
    assert Decimal(row["cost"]) == billed
    assert metadata["cost_usd"] == float(billed)


def test_breaker_opens_skips_the_provider_and_recovers_after_the_cooldown(
    gateway: RunningGateway, api: httpx.Client, anthropic_sim: httpx.Client, fast_breaker: CircuitBreaker
) -> None:
    client = _client(gateway, new_account(api).gateway_key)
    anthropic_sim.post("/_sim/faults", json={"fault": "503", "count": 3})

    for _ in range(3):  # each fails on Anthropic and is answered by a fallback
        model, _, _ = _ask(client, PINNED)
        assert model != PINNED
    assert fast_breaker.state("anthropic") == "open"

    # Open: the provider is not even tried.
    before = _sim_requests(anthropic_sim)
    model, _, _ = _ask(client, PINNED)
    assert model != PINNED
    assert _sim_requests(anthropic_sim) == before

    time.sleep(1.1)
    # A request answered by another provider must not use up the half-open probe.
    auto_model, _, _ = _ask(client, "auto", "hi")
    assert gateway.state.catalog.get(auto_model).provider != "anthropic"
    assert fast_breaker.state("anthropic") == "open"

    # The probe goes to the recovered provider, which closes the circuit.
    model, _, _ = _ask(client, PINNED)
    assert model == PINNED
    assert _sim_requests(anthropic_sim) == before + 1
    assert fast_breaker.state("anthropic") == "closed"
    assert _ask(client, PINNED)[0] == PINNED


def test_a_probe_whose_outcome_is_never_recorded_expires() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=30)
    breaker.record_failure("google", now=0)
    assert breaker.allows("google", now=1)
    breaker.record_failure("google", now=1)
    assert not breaker.allows("google", now=10)
    assert breaker.allows("google", now=31)
    breaker.begin("google", now=31)  # the probe's caller goes away: nothing is recorded
    assert breaker.state("google", now=32) == "half_open"
    assert not breaker.allows("google", now=40)
    assert breaker.allows("google", now=61)  # a new probe one cool-down later
    breaker.record_failure("google", now=62)  # failed probe: a fresh cool-down
    assert not breaker.allows("google", now=91)
    assert breaker.allows("google", now=92)


def test_circuits_are_per_key_owner() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=30)
    for _ in range(2):
        breaker.record_failure("anthropic", "user-a", now=0)
    assert not breaker.allows("anthropic", "user-a", now=1)
    assert breaker.allows("anthropic", "user-b", now=1)
    assert breaker.allows("anthropic", now=1)  # the operator's key
    breaker.record_success("anthropic", "user-a")
    assert breaker.allows("anthropic", "user-a", now=2)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_leaving_before_the_answer_cancels_the_upstream_call(
    gateway: RunningGateway, api: httpx.Client, anthropic_sim: httpx.Client, stream: bool
) -> None:
    account = new_account(api)
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key,
                           max_retries=0, timeout=1.0)
    before = anthropic_sim.get("/_sim/stats").json()
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model=PINNED, stream=stream,
            messages=[{"role": "user", "content": "Name a colour. [[sim:fault=timeout]]"}],
        )

    # Recorded as cancelled within seconds (not at the 300 s request deadline), with no fallback tried.
    rows: list[dict] = []
    deadline = time.monotonic() + 20
    while not rows and time.monotonic() < deadline:
        rows = gateway.clickhouse(
            "SELECT status, http_status, error_code, attempts, stream FROM usage_events"
            " WHERE user_id = {u:UUID}",
            {"u": account.user_id},
        )
        time.sleep(0.2)
    assert time.monotonic() - started < 15
    assert len(rows) == 1
    row = rows[0]
    assert (row["status"], row["http_status"], row["error_code"]) == ("cancelled", 499, "client_disconnected")
    assert row["stream"] is stream
    assert [(a["model"], a["outcome"]) for a in row["attempts"]] == [(PINNED, "cancelled")]
    # The upstream call was abandoned, not left running.
    after = anthropic_sim.get("/_sim/stats").json()
    assert after["requests"] == before["requests"] + 1
    deadline = time.monotonic() + 5
    while after["cancelled"] == before["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
        after = anthropic_sim.get("/_sim/stats").json()
    assert after["cancelled"] == before["cancelled"] + 1
