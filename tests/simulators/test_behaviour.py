"""Behaviour shared by all simulators: answers, keys, faults, timing, cancellation, control endpoints."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from infra.simulators import SimulatorConfig, anthropic_sim, gemini_sim, openai_sim
from infra.simulators.answers import compose_answer, count_tokens, split_pieces
from infra.simulators.common import parse_markers
from tests.simulators.sim_harness import HTTP, RunningSimulator


def openai_request(text: str, stream: bool = False) -> tuple[str, dict, dict]:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}
    return "/v1/chat/completions", body, {"Authorization": "Bearer sim-openai-key"}


def anthropic_request(text: str, stream: bool = False) -> tuple[str, dict, dict]:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 200,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    return "/v1/messages", body, {"x-api-key": "sim-anthropic-key", "anthropic-version": "2023-06-01"}


def gemini_request(text: str, stream: bool = False) -> tuple[str, dict, dict]:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    return f"/v1beta/models/gemini-2.0-flash:{method}", body, {"x-goog-api-key": "sim-google-key"}


REQUESTS = {"openai": openai_request, "anthropic": anthropic_request, "google": gemini_request}


@pytest.fixture(params=sorted(REQUESTS))
def provider(request: pytest.FixtureRequest) -> tuple[str, RunningSimulator]:
    fixture = {
        "openai": "openai_sim_server",
        "anthropic": "anthropic_sim_server",
        "google": "gemini_sim_server",
    }
    return request.param, request.getfixturevalue(fixture[request.param])


def test_composed_answers_have_exact_token_counts() -> None:
    for seed in range(40):
        for n in (1, 2, 7, 33, 120):
            text = compose_answer(seed, n, with_unicode=seed % 2 == 0)
            assert count_tokens(text) == n
            assert "".join(split_pieces(text)) == text
    assert compose_answer(5, 20) == compose_answer(5, 20)


def test_markers_parse() -> None:
    assert parse_markers("a [[sim:fault=429]] b [[sim:unicode]] [[sim:tps=50]]") == {
        "fault": "429",
        "unicode": "1",
        "tps": "50",
    }


def test_keys_and_env_config() -> None:
    config = SimulatorConfig()
    assert config.key_is_valid("sim-openai-key") and config.key_is_valid("sim-valid-anyone")
    assert not config.key_is_valid("sk-real") and not config.key_is_valid("")
    env = SimulatorConfig.from_env(
        {"SIM_VALID_KEYS": "k1, k2", "SIM_TTFT_MS": "50", "SIM_TPS": "100", "SIM_FAULT": "503"}
    )
    assert env.valid_keys == frozenset({"k1", "k2"}) and env.ttft_ms == 50 and env.tps == 100
    assert env.fault == "503" and env.key_is_valid("k1") and not env.key_is_valid("sim-openai-key")


def test_health(provider: tuple[str, RunningSimulator]) -> None:
    _, server = provider
    assert HTTP.get(f"{server.base_url}/health").json() == {"status": "ok"}


def test_stream_splits_a_multibyte_character_across_writes(provider: tuple[str, RunningSimulator]) -> None:
    name, server = provider
    path, body, headers = REQUESTS[name]("hello [[sim:unicode]]", stream=True)
    chunks = []
    with HTTP.stream("POST", server.base_url + path, json=body, headers=headers) as response:
        chunks.extend(response.iter_raw())
    assert b"".join(chunks).decode("utf-8")

    def decodes(chunk: bytes) -> bool:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    assert not all(decodes(chunk) for chunk in chunks), "no write ended inside a character"


def test_disconnect_drops_the_connection(provider: tuple[str, RunningSimulator]) -> None:
    name, server = provider
    path, body, headers = REQUESTS[name]("[[sim:fault=disconnect]] [[sim:tokens=80]]", stream=True)
    with (
        pytest.raises(httpx.RemoteProtocolError),
        HTTP.stream("POST", server.base_url + path, json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_raw():
            pass


def test_stall_counts_a_cancelled_stream(provider: tuple[str, RunningSimulator]) -> None:
    name, server = provider
    path, body, headers = REQUESTS[name]("[[sim:fault=stall]]", stream=True)
    with (
        pytest.raises(httpx.ReadTimeout),
        HTTP.stream("POST", server.base_url + path, json=body, headers=headers, timeout=0.5) as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_raw():
            pass
    stats = server.wait_for(lambda s: s["cancelled"] == 1)
    assert stats["cancelled"] == 1 and stats["streams"] == 1 and stats["faults"] == {"stall": 1}


def test_timeout_never_answers(provider: tuple[str, RunningSimulator]) -> None:
    name, server = provider
    path, body, headers = REQUESTS[name]("[[sim:fault=timeout]]")
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(server.base_url + path, json=body, headers=headers, timeout=0.3)
    assert server.wait_for(lambda s: s["cancelled"] == 1)["cancelled"] == 1


def test_client_leaving_early_is_counted(openai_sim_server: RunningSimulator) -> None:
    path, body, headers = openai_request("long [[sim:tokens=200]] [[sim:tps=200]]", stream=True)
    with HTTP.stream("POST", openai_sim_server.base_url + path, json=body, headers=headers) as response:
        next(response.iter_raw())
    stats = openai_sim_server.wait_for(lambda s: s["cancelled"] == 1)
    assert stats["cancelled"] == 1 and stats["completed"] == 0


def test_armed_faults_hit_the_next_requests(anthropic_sim_server: RunningSimulator) -> None:
    base = anthropic_sim_server.base_url
    armed = HTTP.post(f"{base}/_sim/faults", json={"fault": "529", "count": 2})
    assert armed.json() == {"armed_fault": "529", "armed_remaining": 2}
    path, body, headers = anthropic_request("hi")
    statuses = [HTTP.post(base + path, json=body, headers=headers).status_code for _ in range(3)]
    assert statuses == [529, 529, 200]
    HTTP.post(f"{base}/_sim/faults", json={"fault": "500", "count": None})
    HTTP.delete(f"{base}/_sim/faults")
    assert HTTP.post(base + path, json=body, headers=headers).status_code == 200
    assert HTTP.post(f"{base}/_sim/faults", json={"fault": "nope"}).status_code == 400


def test_header_fault_and_retry_after_marker(openai_sim_server: RunningSimulator) -> None:
    path, body, headers = openai_request("hi [[sim:retry_after=3]]")
    response = HTTP.post(
        openai_sim_server.base_url + path, json=body, headers={**headers, "x-sim-fault": "429"}
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "3"


def test_ttft_delays_the_first_byte(gemini_sim_server: RunningSimulator) -> None:
    path, body, headers = gemini_request("hi", stream=True)
    started = time.monotonic()
    with HTTP.stream(
        "POST", gemini_sim_server.base_url + path, json=body, headers={**headers, "x-sim-ttft-ms": "250"}
    ) as response:
        next(response.iter_raw())
        assert time.monotonic() - started >= 0.24


async def _status(app: object, path: str, body: dict, headers: dict) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        return (await client.post(path, json=body, headers=headers)).status_code


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_global_fault_and_custom_keys_in_process(name: str) -> None:
    factories = {
        "openai": openai_sim.create_app,
        "anthropic": anthropic_sim.create_app,
        "google": gemini_sim.create_app,
    }
    path, body, headers = REQUESTS[name]("hi")
    failing = factories[name](SimulatorConfig(fault="503"))
    assert asyncio.run(_status(failing, path, body, headers)) == 503
    strict = factories[name](SimulatorConfig(valid_keys=frozenset({"only-this"}), valid_key_prefix=""))
    assert asyncio.run(_status(strict, path, body, headers)) in (400, 401)
    healthy = factories[name](SimulatorConfig())
    assert asyncio.run(_status(healthy, path, body, headers)) == 200


def test_cli_serves_health() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.simulators", "google", "--port", "19150"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert HTTP.get("http://127.0.0.1:19150/health").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
