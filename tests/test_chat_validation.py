"""Chat request validation: malformed nested values are a 400 naming the field; realistic bodies pass."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from openai import BadRequestError, OpenAI

from gateway.chat.validation import validate_chat_request
from gateway.errors import ApiError
from tests.conftest import Account, RunningGateway, new_account

USER = {"role": "user", "content": "hi"}
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJ"
    "RU5ErkJggg=="
)
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_PARAMETERS,
        "strict": True,
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


def _chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": list(messages) or [USER], **fields}


def _assistant_calls(tool_calls: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": tool_calls}


def _tool(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "get_weather", **function}}


def _named(name: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _image(url: str, **fields: Any) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url, **fields}}]}


BAD = [
    # messages[i].tool_calls
    ("tool_calls a string", _chat(USER, _assistant_calls("x")), "messages[1].tool_calls"),
    ("tool_calls a number", _chat(USER, _assistant_calls(1)), "messages[1].tool_calls"),
    ("tool_calls [1]", _chat(USER, _assistant_calls([1])), "messages[1].tool_calls[0]"),
    ("tool_calls [null]", _chat(USER, _assistant_calls([None])), "messages[1].tool_calls[0]"),
    ('tool_calls ["x"]', _chat(USER, _assistant_calls(["x"])), "messages[1].tool_calls[0]"),
    ("tool call function a string",
     _chat(USER, _assistant_calls([{"id": "a", "type": "function", "function": "x"}])),
     "messages[1].tool_calls[0].function"),
    ("tool call function name a number",
     _chat(USER, _assistant_calls([{**CALL, "function": {"name": 1, "arguments": "{}"}}])),
     "messages[1].tool_calls[0].function.name"),
    ("tool call arguments an object",
     _chat(USER, _assistant_calls([{**CALL, "function": {"name": "f", "arguments": {"a": 1}}}])),
     "messages[1].tool_calls[0].function.arguments"),
    ("tool call without id", _chat(USER, _assistant_calls([{k: v for k, v in CALL.items() if k != "id"}])),
     "messages[1].tool_calls[0].id"),
    ("tool call wrong type", _chat(USER, _assistant_calls([{**CALL, "type": "code"}])),
     "messages[1].tool_calls[0].type"),
    # other message fields
    ("message function_call (legacy)",
     _chat(USER, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}),
     "messages[1].function_call"),
    ("role function (legacy)",
     _chat(USER, {"role": "function", "name": "f", "content": "x"}), "messages[1].role"),
    ("role a list", _chat({"role": ["user"], "content": "hi"}), "messages[0].role"),
    ("content part type a list", _chat({"role": "user", "content": [{"type": ["text"]}]}),
     "messages[0].content[0]"),
    ("image detail an object", _chat(_image(PNG, detail={"a": 1})),
     "messages[0].content[0].image_url.detail"),
    ("message name a number", _chat({"role": "user", "content": "hi", "name": 5}), "messages[0].name"),
    ("tool message without id", _chat(USER, {"role": "tool", "content": "r"}), "messages[1].tool_call_id"),
    ("tool message id a number", _chat(USER, {"role": "tool", "tool_call_id": 3, "content": "r"}),
     "messages[1].tool_call_id"),
    ("tool message content an image",
     _chat(USER, {"role": "tool", "tool_call_id": "a",
                  "content": [{"type": "image_url", "image_url": {"url": PNG}}]}), "messages[1].content[0]"),
    ("tool message content a number", _chat(USER, {"role": "tool", "tool_call_id": "a", "content": 3}),
     "messages[1].content"),
    # images
    ("image url a path", _chat(_image("/x.png")), "messages[0].content[0].image_url.url"),
    ("image url ftp", _chat(_image("ftp://example.com/a.png")), "messages[0].content[0].image_url.url"),
    ("image url bare scheme", _chat(_image("https://")), "messages[0].content[0].image_url.url"),
    ("image data url not an image", _chat(_image("data:text/plain;base64,aGk=")),
     "messages[0].content[0].image_url.url"),
    ("image data url not base64", _chat(_image("data:image/png,rawbytes")),
     "messages[0].content[0].image_url.url"),
    ("image detail unknown", _chat(_image(PNG, detail="ultra")), "messages[0].content[0].image_url.detail"),
    ("image_url a string", _chat({"role": "user", "content": [{"type": "image_url", "image_url": PNG}]}),
     "messages[0].content[0].image_url.url"),
    # tools
    ("tool not an object", _chat(tools=["get_weather"]), "tools[0]"),
    ("tool type missing", _chat(tools=[{"function": WEATHER["function"]}]), "tools[0].type"),
    ("tool function a string", _chat(tools=[{"type": "function", "function": "x"}]), "tools[0].function"),
    ("tool name a number", _chat(tools=[_named(1)]), "tools[0].function.name"),
    ("tool name empty", _chat(tools=[_named("")]), "tools[0].function.name"),
    ("tool name with spaces", _chat(tools=[_named("get weather")]), "tools[0].function.name"),
    ("tool name 65 chars", _chat(tools=[_named("f" * 65)]), "tools[0].function.name"),
    ("tool description a list", _chat(tools=[_tool(description=["x"])]), "tools[0].function.description"),
    ("tool parameters a list", _chat(tools=[_tool(parameters=[1])]), "tools[0].function.parameters"),
    ("tool properties a list", _chat(tools=[_tool(parameters={"type": "object", "properties": [1]})]),
     "tools[0].function.parameters.properties"),
    ("tool property not a schema",
     _chat(tools=[_tool(parameters={"type": "object", "properties": {"city": "string"}})]),
     "tools[0].function.parameters.properties.city"),
    ("tool required a string",
     _chat(tools=[_tool(parameters={"type": "object", "properties": {}, "required": "city"})]),
     "tools[0].function.parameters.required"),
    ("tool required numbers", _chat(tools=[_tool(parameters={"type": "object", "required": [1]})]),
     "tools[0].function.parameters.required"),
    ("tool strict a string", _chat(tools=[_tool(strict="yes")]), "tools[0].function.strict"),
    # tool_choice
    ("tool_choice unknown mode", _chat(tools=[WEATHER], tool_choice="always"), "tool_choice"),
    ("tool_choice function a string",
     _chat(tools=[WEATHER], tool_choice={"type": "function", "function": "x"}), "tool_choice.function.name"),
    ("tool_choice wrong type", _chat(tools=[WEATHER], tool_choice={"type": "auto"}), "tool_choice"),
    ("tool_choice a number", _chat(tools=[WEATHER], tool_choice=1), "tool_choice"),
    ("tool_choice unknown tool",
     _chat(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "other"}}),
     "tool_choice.function.name"),
    ("tool_choice named without tools", _chat(tool_choice={"type": "function", "function": {"name": "f"}}),
     "tool_choice.function.name"),
    ("tool_choice required without tools", _chat(tool_choice="required"), "tool_choice"),
    # legacy function calling is refused, pointing to tools
    ("functions (legacy)", _chat(functions=[{"name": "f"}]), "functions"),
    ("function_call (legacy)", _chat(function_call="auto"), "function_call"),
    # stream_options
    ("stream_options a list", _chat(stream=True, stream_options=[1]), "stream_options"),
    ("stream_options without stream", _chat(stream_options={"include_usage": True}), "stream_options"),
    ("stream_options with stream false", _chat(stream=False, stream_options={"include_usage": True}),
     "stream_options"),
    ("include_usage a string", _chat(stream=True, stream_options={"include_usage": "yes"}),
     "stream_options.include_usage"),
    # model and scalars
    ("model 257 characters", _chat(model="m" * 257), "model"),
    ("model empty", _chat(model=""), "model"),
    ("model blank", _chat(model="  "), "model"),
    ("model a list", _chat(model=["gpt-4o"]), "model"),
    ("user 257 characters", _chat(user="u" * 257), "user"),
    ("user a number", _chat(user=5), "user"),
    ("metadata a list", _chat(metadata=["a"]), "metadata"),
    ("metadata value a number", _chat(metadata={"a": 1}), "metadata.a"),
    ("metadata 17 pairs", _chat(metadata={str(i): "v" for i in range(17)}), "metadata"),
    ("parallel_tool_calls a string", _chat(tools=[WEATHER], parallel_tool_calls="no"), "parallel_tool_calls"),
    ("logprobs a number", _chat(logprobs=1), "logprobs"),
    ("top_logprobs 21", _chat(logprobs=True, top_logprobs=21), "top_logprobs"),
    ("top_logprobs without logprobs", _chat(top_logprobs=3), "top_logprobs"),
    ("top_logprobs with logprobs false", _chat(logprobs=False, top_logprobs=3), "top_logprobs"),
    ("seed a float", _chat(seed=1.5), "seed"),
    ("seed a boolean", _chat(seed=True), "seed"),
    # response_format
    ("json_schema missing", _chat(response_format={"type": "json_schema"}), "response_format.json_schema"),
    ("json_schema without name",
     _chat(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
     "response_format.json_schema.name"),
    ("json_schema name a number",
     _chat(response_format={"type": "json_schema", "json_schema": {"name": 3, "schema": {}}}),
     "response_format.json_schema.name"),
    ("json_schema schema a string",
     _chat(response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": "object"}}),
     "response_format.json_schema.schema"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "field"), BAD, ids=[case[0] for case in BAD])
def test_bad_body_is_a_400_naming_the_field(name: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as raised:
        validate_chat_request(body)
    error = raised.value
    expected_code = "unsupported_parameter" if "(legacy)" in name else "invalid_request"
    assert (error.status, error.code) == (400, expected_code)
    assert error.details == {"field": field}, error.message
    assert error.message.startswith(f"{field}: ")


GOOD = [
    ("system and user", _chat({"role": "system", "content": "You are terse."}, USER)),
    ("no model", {"messages": [USER]}),
    ("multi-turn with tool calls and results", _chat(
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            CALL, {"id": "call_2", "type": "function",
                   "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": -3}'},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "sunny"}]},
        {"role": "assistant", "content": "Oslo is cold, Rome is sunny."},
        {"role": "user", "content": "Thanks", "name": "alice"},
        tools=[WEATHER], tool_choice="auto", parallel_tool_calls=True,
    )),
    ("assistant tool calls without content key", _chat(
        USER, {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "r"},
    )),
    ("images", _chat({"role": "user", "content": [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "http://example.com/dog.webp"}},
    ]})),
    ("tools with a named tool_choice", _chat(
        USER, tools=[WEATHER, {"type": "function", "function": {"name": "no_args"}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )),
    ("tool_choice none without tools", _chat(tool_choice="none")),
    ("tool_choice required with tools", _chat(tools=[WEATHER], tool_choice="required")),
    ("JSON mode", _chat({"role": "system", "content": "Answer in JSON."}, USER,
                        response_format={"type": "json_object"}, seed=7, temperature=0)),
    ("json_schema", _chat(USER, response_format={"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}})),
    ("stream with include_usage", _chat(USER, stream=True, stream_options={"include_usage": True})),
    ("logprobs", _chat(USER, logprobs=True, top_logprobs=5)),
    ("user and metadata",
     _chat(USER, user="u" * 256, metadata={"team": "search", "ticket": "T-1"}, store=True)),
    ("model of 256 characters", _chat(USER, model="m" * 256)),
    ("explicit nulls", _chat(USER, tools=None, tool_choice=None, stream_options=None, user=None,
                             metadata=None, response_format=None, top_logprobs=None, seed=None)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body"), GOOD, ids=[case[0] for case in GOOD])
def test_good_body_is_accepted_unchanged(name: str, body: dict[str, Any]) -> None:
    before = copy.deepcopy(body)
    assert validate_chat_request(body) is body
    assert body == before


# Bodies that reached the provider adapters and crashed them (a 500) before they were validated.
PREVIOUSLY_CRASHING = [
    ("tool_calls a string", {"model": "auto", "messages": [
        USER, {"role": "assistant", "content": None, "tool_calls": "x"},
        {"role": "tool", "tool_call_id": "a", "content": "r"}, USER]}, "messages[1].tool_calls"),
    ("model of 257 characters", {"model": "m" * 257, "messages": [USER]}, "model"),
    ("gemini tool properties a list", {"model": "gemini-2.5-flash-lite", "messages": [USER], "tools": [
        _tool(parameters={"type": "object", "properties": [1]})]},
     "tools[0].function.parameters.properties"),
    ("tool_choice function a string", {"model": "auto", "messages": [USER], "tools": [WEATHER],
                                       "tool_choice": {"type": "function", "function": "x"}},
     "tool_choice.function.name"),
]  # fmt: skip


@pytest.fixture(scope="module")
def gateway_key(gateway: RunningGateway) -> str:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        return new_account(client).gateway_key


@pytest.mark.parametrize(
    ("name", "body", "field"), PREVIOUSLY_CRASHING, ids=[case[0] for case in PREVIOUSLY_CRASHING]
)
def test_previously_crashing_bodies_are_a_400_over_http(
    gateway: RunningGateway, gateway_key: str, name: str, body: dict[str, Any], field: str
) -> None:
    reply = httpx.post(
        f"{gateway.base_url}/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {gateway_key}"}, timeout=30,
    )  # fmt: skip
    assert reply.status_code == 400, reply.text[:300]
    error = reply.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["field"] == field
    assert reply.headers["x-request-id"]


def test_openai_sdk_gets_a_400_for_a_malformed_tool_choice(gateway: RunningGateway, gateway_key: str) -> None:
    client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=gateway_key, max_retries=0)
    with pytest.raises(BadRequestError) as raised:
        client.chat.completions.create(
            model="auto",
            messages=[USER],  # type: ignore[list-item]
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": "x"},  # type: ignore[typeddict-item]
        )
    assert raised.value.status_code == 400
    body = raised.value.body
    assert isinstance(body, dict) and body["code"] == "invalid_request"
    assert body["details"]["field"] == "tool_choice.function.name"


def test_schemas_gemini_cannot_take_are_a_400_not_a_500(gateway: RunningGateway, account: Account) -> None:
    """Malformed nested schemas reach the Gemini schema converter only through valid top levels."""
    nested = {"type": "object", "properties": {"a": {"type": "object", "properties": [1]}}}
    defs = {"type": "object", "$defs": [1], "properties": {"a": {"$ref": "#/$defs/x"}}}
    bodies = [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": nested}}]},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": defs}}]},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": nested}}},
    ]
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        for extra in bodies:
            for stream in (False, True):
                response = client.post(
                    "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {account.gateway_key}"},
                    json={"model": "gemini-2.5-flash-lite", "stream": stream,
                          "messages": [{"role": "user", "content": "hi"}], **extra},
                )
                assert response.status_code < 500, (extra, stream, response.text)
                assert response.status_code in (200, 400), response.text
