"""The OpenAI simulator, read through the official `openai` SDK and its pydantic types."""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from infra.simulators.answers import count_tokens
from tests.simulators.sim_harness import HTTP, RunningSimulator, assert_no_extra, sse_frames

KEY = "sim-openai-key"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a place",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}

SHAPES = {
    "plain": {"messages": [{"role": "user", "content": "Tell me about routers."}]},
    "system": {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Explain caching."},
        ]
    },
    "multi_turn": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "Summarise our chat."}]},
        ]
    },
    "tool_results": {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        ],
        "tools": [WEATHER_TOOL],
    },
    "json_mode": {
        "messages": [{"role": "user", "content": "Reply in JSON about cats."}],
        "response_format": {"type": "json_object"},
    },
    "max_tokens_hit": {"messages": [{"role": "user", "content": "Go long"}], "max_tokens": 4},
    "unicode": {"messages": [{"role": "user", "content": "Say something [[sim:unicode]]"}]},
}


@pytest.fixture(scope="module")
def sdk(openai_server: RunningSimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{openai_server.base_url}/v1", api_key=KEY, max_retries=0)


@pytest.fixture
def client(sdk: openai.OpenAI, openai_sim_server: RunningSimulator) -> openai.OpenAI:
    return sdk


def _stream_text(client: openai.OpenAI, **kwargs) -> tuple[str, list[ChatCompletionChunk]]:
    chunks = list(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_request_shapes_parse_and_stream_matches(client: openai.OpenAI, shape: str) -> None:
    request = {"model": "gpt-4o-mini", **SHAPES[shape]}
    completion = client.chat.completions.create(**request)
    assert_no_extra(ChatCompletion.model_validate(completion.model_dump(exclude_unset=True)))
    choice = completion.choices[0]
    assert completion.object == "chat.completion"
    assert choice.message.role == "assistant"
    assert completion.usage is not None
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    text, chunks = _stream_text(client, **request)
    assert text == choice.message.content
    assert chunks[-2].choices[0].finish_reason == choice.finish_reason
    assert chunks[-1].usage == completion.usage
    if shape == "max_tokens_hit":
        assert choice.finish_reason == "length"
        assert completion.usage.completion_tokens == 4
    else:
        assert choice.finish_reason == "stop"
    if shape == "json_mode":
        assert isinstance(json.loads(choice.message.content or ""), dict)
    if shape == "unicode":
        assert "é" in text and "—" in text and "😀" in text


def test_raw_stream_events_validate_strictly(openai_sim_server: RunningSimulator) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Use get_weather please [[sim:parallel_tools]]"}],
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = HTTP.post(
        f"{openai_sim_server.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(response.content)
    assert frames[-1] == b"data: [DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(f.removeprefix(b"data: "))) for f in frames[:-1]]
    for chunk in chunks:
        assert_no_extra(chunk)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks[:-1]:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"arguments": ""})
            if delta.id:
                assert "id" not in entry, "id only on the first delta of a call"
                entry.update(id=delta.id, name=delta.function.name, type=delta.type)
            entry["arguments"] += delta.function.arguments or ""
    assert sorted(calls) == [0, 1]
    assert {c["name"] for c in calls.values()} == {"get_weather", "get_time"}
    weather = next(c for c in calls.values() if c["name"] == "get_weather")
    assert set(json.loads(weather["arguments"])) == {"location", "unit"}


def test_no_usage_field_without_include_usage(openai_sim_server: RunningSimulator) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = HTTP.post(
        f"{openai_sim_server.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    payloads = [json.loads(f.removeprefix(b"data: ")) for f in sse_frames(response.content)[:-1]]
    assert all("usage" not in p for p in payloads)


def test_tool_call_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"location", "unit"}


def test_stop_sequence_cuts_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write a few sentences [[sim:tokens=30]]"}]
    full = client.chat.completions.create(model="gpt-4o", messages=messages).choices[0].message.content or ""
    stop_word = full.split()[5]
    cut = client.chat.completions.create(model="gpt-4o", messages=messages, stop=[stop_word]).choices[0]
    assert cut.finish_reason == "stop"
    assert cut.message.content == full[: full.index(stop_word)]


def test_reasoning_models_need_max_completion_tokens(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="o3-mini", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "max_tokens"
    completion = client.chat.completions.create(
        model="gpt-5",
        max_completion_tokens=500,
        messages=[{"role": "user", "content": "x [[sim:reasoning=40]]"}],
    )
    details = completion.usage.completion_tokens_details
    assert details is not None and details.reasoning_tokens == 40
    visible = count_tokens(completion.choices[0].message.content or "")
    assert completion.usage.completion_tokens == 40 + visible


def test_cached_tokens_marker(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x [[sim:usage_cache_read=64]]"}]
    )
    assert completion.usage.prompt_tokens_details.cached_tokens == 64
    assert completion.usage.prompt_tokens > 64


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("529", openai.InternalServerError, 503),
        ("401", openai.AuthenticationError, 401),
        ("400", openai.BadRequestError, 400),
    ],
)
def test_faults_raise_sdk_errors(client: openai.OpenAI, fault: str, error_class: type, status: int) -> None:
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"[[sim:fault={fault}]]"}]
        )
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    if fault == "429":
        assert caught.value.response.headers["retry-after"] == "7"
        assert body["code"] == "rate_limit_exceeded"


def test_invalid_key_and_missing_key(openai_sim_server: RunningSimulator) -> None:
    bad = openai.OpenAI(
        base_url=f"{openai_sim_server.base_url}/v1", api_key="sk-wrong-key-123", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "invalid_api_key"
    response = HTTP.post(f"{openai_sim_server.base_url}/v1/chat/completions", json={})
    assert response.status_code == 401
    invented = openai.OpenAI(
        base_url=f"{openai_sim_server.base_url}/v1", api_key="sim-valid-user-42", max_retries=0
    )
    assert invented.models.list().data


def test_mid_stream_error_raises(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "[[sim:fault=error_event]]"}], stream=True
    )
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "bogus": 1}, None),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "tool_call_id": "call_9", "content": "x"}]}, "messages.[0].role"),
        (
            {"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}},
            "stream_options",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
            "messages",
        ),
        (
            {"model": "o4-mini", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2},
            "temperature",
        ),
    ],
)
def test_validation_errors(openai_sim_server: RunningSimulator, body: dict, param: str | None) -> None:
    response = HTTP.post(
        f"{openai_sim_server.base_url}/v1/chat/completions",
        json={"model": "gpt-4o", **body},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_stats_record_what_was_sent(client: openai.OpenAI, openai_sim_server: RunningSimulator) -> None:
    client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hello"}], max_tokens=9
    )
    stats = openai_sim_server.stats()
    assert stats["requests"] == 1 and stats["by_model"] == {"gpt-4.1": 1}
    last = stats["last_request"]
    assert last["body"]["max_tokens"] == 9
    assert last["auth_header"] == "authorization"
    assert "authorization" not in last["headers"]
