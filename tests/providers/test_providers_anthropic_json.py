"""JSON mode pinned to a Claude model: the answer comes back as parseable JSON content, streamed or not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gateway.providers import ProviderAdapter, close_adapters, create_adapters
from gateway.providers.anthropic_adapter import build_anthropic_request
from gateway.providers.anthropic_json import DEFAULT_TOOL_NAME
from tests.providers.provider_helpers import WEATHER_TOOL, content_of, make_call, parse_frames, tool_calls_of
from tests.providers.simulator_server import running_simulator
from tests.providers.test_providers_simulators import configs, sim_call

pytestmark = pytest.mark.anyio

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "email": {"type": "string"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
FORMATS: dict[str, dict[str, Any]] = {
    "json_object": {"type": "json_object"},
    "json_schema": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA}},
}


@pytest.fixture(scope="module")
def sim_root() -> Iterator[str]:
    with running_simulator("anthropic") as root:
        yield root


@pytest.fixture
async def claude(sim_root: str) -> AsyncIterator[ProviderAdapter]:
    made = create_adapters(configs({"anthropic": sim_root}), connect_timeout=2, idle_timeout=5)
    yield made["anthropic"]
    await close_adapters(made)


def json_request(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "Describe a person who writes software."}],
        "response_format": FORMATS[kind],
        **extra,
    }


def check_answer(kind: str, content: str) -> None:
    value = json.loads(content)
    assert isinstance(value, dict) and value
    if kind == "json_schema":
        assert set(PERSON_SCHEMA["required"]) <= set(value)
        assert isinstance(value["age"], int)


@pytest.mark.parametrize("kind", FORMATS)
async def test_json_mode_complete(claude: ProviderAdapter, kind: str) -> None:
    completion = await claude.complete(sim_call("anthropic", json_request(kind)))
    choice = completion.body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    check_answer(kind, choice["message"]["content"])
    assert completion.usage.completion_tokens > 0


@pytest.mark.parametrize("kind", FORMATS)
async def test_json_mode_stream(claude: ProviderAdapter, kind: str) -> None:
    stream = await claude.open_stream(sim_call("anthropic", json_request(kind, stream=True)))
    chunks = parse_frames([frame async for frame in stream])
    await stream.aclose()
    assert chunks[-1] == "[DONE]"
    assert stream.finish_reason == "stop"
    assert not tool_calls_of(chunks)
    check_answer(kind, content_of(chunks))
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"][0]["finish_reason"]] == [
        "stop"
    ]


def test_json_mode_with_client_tools_lets_the_model_choose() -> None:
    request = json_request("json_object", tools=[WEATHER_TOOL])
    body = build_anthropic_request(make_call(request), stream=False)
    assert [tool["name"] for tool in body["tools"]] == ["get_weather", DEFAULT_TOOL_NAME]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "system" not in body


def test_non_object_schema_keeps_the_instruction() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array"}}}
    body = build_anthropic_request(
        make_call({"messages": [{"role": "user", "content": "x"}], "response_format": fmt}), stream=False
    )
    assert "tools" not in body
    assert "JSON Schema" in body["system"]


async def test_simulator_follows_a_json_instruction(claude: ProviderAdapter) -> None:
    request = {
        "messages": [
            {"role": "system", "content": "Respond with a single valid JSON object."},
            {"role": "user", "content": "Describe a river."},
        ],
    }
    completion = await claude.complete(sim_call("anthropic", request))
    assert isinstance(json.loads(completion.body["choices"][0]["message"]["content"]), dict)
