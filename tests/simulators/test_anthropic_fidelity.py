"""The Anthropic simulator, read through the official `anthropic` SDK and its pydantic types."""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from tests.simulators.sim_harness import HTTP, RunningSimulator, assert_no_extra, sse_frames

KEY = "sim-anthropic-key"
MODEL = "claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["location"],
    },
}
EVENT = TypeAdapter(RawMessageStreamEvent)

SHAPES = {
    "plain": {"messages": [{"role": "user", "content": "Tell me about routers."}]},
    "system": {"system": "Be terse.", "messages": [{"role": "user", "content": "Explain caching."}]},
    "system_blocks": {
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Explain caching."}],
    },
    "multi_turn": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Summarise our chat."}]},
        ]
    },
    "tool_results": {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "21C"}],
            },
        ],
    },
    "max_tokens_hit": {"messages": [{"role": "user", "content": "Go long"}], "max_tokens": 5},
    "unicode": {"messages": [{"role": "user", "content": "Say something [[sim:unicode]]"}]},
    "tool_call": {"tools": [WEATHER], "messages": [{"role": "user", "content": "Use get_weather for Paris"}]},
}
STOP = {"max_tokens_hit": "max_tokens", "tool_call": "tool_use"}


@pytest.fixture(scope="module")
def sdk(anthropic_server: RunningSimulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=anthropic_server.base_url, api_key=KEY, max_retries=0)


@pytest.fixture
def client(sdk: anthropic.Anthropic, anthropic_sim_server: RunningSimulator) -> anthropic.Anthropic:
    return sdk


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_request_shapes_create_and_stream_agree(client: anthropic.Anthropic, shape: str) -> None:
    request = {"model": MODEL, "max_tokens": 300, **SHAPES[shape]}
    message = client.messages.create(**request)
    assert_no_extra(Message.model_validate(message.model_dump(exclude_unset=True)))
    assert message.stop_reason == STOP.get(shape, "end_turn")
    with client.messages.stream(**request) as stream:
        streamed = stream.get_final_message()
    assert [b.model_dump() for b in streamed.content] == [b.model_dump() for b in message.content]
    assert streamed.stop_reason == message.stop_reason
    assert streamed.usage.output_tokens == message.usage.output_tokens
    assert streamed.usage.input_tokens == message.usage.input_tokens
    if shape == "tool_call":
        tool_use = next(b for b in streamed.content if b.type == "tool_use")
        assert tool_use.name == "get_weather" and set(tool_use.input) == {"location", "days"}
    if shape == "unicode":
        text = "".join(b.text for b in message.content if b.type == "text")
        assert "é" in text and "😀" in text
    if shape == "max_tokens_hit":
        assert message.usage.output_tokens == 5


def test_raw_stream_events_exact_framing(anthropic_sim_server: RunningSimulator) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 300,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "use get_weather [[sim:parallel_tools]]"}],
    }
    response = HTTP.post(
        f"{anthropic_sim_server.base_url}/v1/messages",
        json=body,
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    types = []
    for frame in sse_frames(response.content):
        event_line, data_line = frame.split(b"\n")
        name = event_line.removeprefix(b"event: ").decode()
        payload = json.loads(data_line.removeprefix(b"data: "))
        assert payload["type"] == name
        types.append(name)
        if name != "ping":
            assert_no_extra(EVENT.validate_python(payload))
        if name == "message_start":
            assert payload["message"]["usage"]["output_tokens"] == 1
            assert payload["message"]["stop_reason"] is None
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_start") == types.count("content_block_stop") == 3


def test_thinking_blocks_and_usage(client: anthropic.Anthropic) -> None:
    request = {
        "model": MODEL,
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Think first [[sim:reasoning=30]]"}],
    }
    message = client.messages.create(**request)
    assert [b.type for b in message.content] == ["thinking", "text"]
    with client.messages.stream(**request) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].thinking == message.content[0].thinking
    assert streamed.content[0].signature == message.content[0].signature


def test_cache_usage_markers(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[
            {"role": "user", "content": "hi [[sim:usage_cache_read=1200]] [[sim:usage_cache_write=300]]"}
        ],
    )
    assert message.usage.cache_read_input_tokens == 1200
    assert message.usage.cache_creation_input_tokens == 300
    assert message.usage.input_tokens >= 1


def test_stop_sequence(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "Write [[sim:tokens=30]]"}]
    full = client.messages.create(model=MODEL, max_tokens=100, messages=messages).content[0].text
    word = full.split()[4]
    cut = client.messages.create(model=MODEL, max_tokens=100, messages=messages, stop_sequences=[word])
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == word
    assert cut.content[0].text == full[: full.index(word)]


@pytest.mark.parametrize(
    ("fault", "error_class", "status", "error_type"),
    [
        ("429", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("529", anthropic.OverloadedError, 529, "overloaded_error"),
        ("500", anthropic.InternalServerError, 500, "api_error"),
        ("401", anthropic.AuthenticationError, 401, "authentication_error"),
        ("400", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_faults_raise_sdk_errors(
    client: anthropic.Anthropic, fault: str, error_class: type, status: int, error_type: str
) -> None:
    with pytest.raises(error_class) as caught:
        client.messages.create(
            model=MODEL, max_tokens=20, messages=[{"role": "user", "content": f"x [[sim:fault={fault}]]"}]
        )
    assert isinstance(caught.value, anthropic.APIStatusError) and caught.value.status_code == status
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == error_type
    if fault == "429":
        assert caught.value.response.headers["retry-after"] == "7"


def test_mid_stream_error_event(client: anthropic.Anthropic) -> None:
    texts = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "[[sim:fault=error_event]]"}]
        ) as stream,
    ):
        texts.extend(stream.text_stream)
    assert len(texts) == 2
    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "wrong", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": KEY}, 400, "invalid_request_error"),
    ],
)
def test_headers_required(
    anthropic_sim_server: RunningSimulator, headers: dict, status: int, error_type: str
) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    response = HTTP.post(f"{anthropic_sim_server.base_url}/v1/messages", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        (
            {
                "max_tokens": 5,
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
            },
            "Input should be 'user' or 'assistant'",
        ),
        ({"max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]}, "first message"),
        (
            {
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "must alternate",
        ),
        (
            {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
            "text content blocks must be non-empty",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "r"}],
                    },
                ],
            },
            "unexpected `tool_use_id`",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": "no result"},
                ],
            },
            "without `tool_result`",
        ),
        (
            {"max_tokens": 5, "temperature_x": 1, "messages": [{"role": "user", "content": "x"}]},
            "Extra inputs are not permitted",
        ),
    ],
)
def test_validation_like_the_real_api(
    anthropic_sim_server: RunningSimulator, body: dict, needle: str
) -> None:
    response = HTTP.post(
        f"{anthropic_sim_server.base_url}/v1/messages",
        json={"model": MODEL, **body},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    assert needle in payload["error"]["message"]


def test_models_list_for_key_check(
    client: anthropic.Anthropic, anthropic_sim_server: RunningSimulator
) -> None:
    models = client.models.list()
    assert models.data and models.data[0].type == "model"
    stats = anthropic_sim_server.stats()
    assert stats["by_endpoint"] == {"models": 1}
