"""Request translation: every request shape by every provider, checked against the exact upstream payload."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.providers.anthropic_adapter import AnthropicAdapter, build_anthropic_request
from gateway.providers.anthropic_json import TOOL_DESCRIPTION
from gateway.providers.base import UpstreamError
from gateway.providers.gemini_adapter import GeminiAdapter, build_gemini_request
from gateway.providers.openai_adapter import build_openai_request
from gateway.settings import ProviderConfig
from tests.providers.provider_helpers import PNG_B64, PNG_DATA_URL, WEATHER_TOOL, make_call


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


GEMINI_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
}
ANTHROPIC_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}
JSON_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}},
    "required": ["a"],
    "additionalProperties": False,
}

# name: (client request, expected Anthropic body, expected Gemini body); OpenAI is checked separately.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "system_prompt": (
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        {
            "model": "up-model",
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [text("Hi")]}],
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
        },
    ),
    "multi_turn": (
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
                {"role": "user", "content": "Answer briefly."},
            ],
            "temperature": 1.5,
            "top_p": 0.9,
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "temperature": 1.0,
            "messages": [
                {"role": "user", "content": [text("Hi")]},
                {"role": "assistant", "content": [text("Hello!")]},
                {"role": "user", "content": [text("How are you?"), text("Answer briefly.")]},
            ],
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "How are you?"}, {"text": "Answer briefly."}]},
            ],
            "generationConfig": {"temperature": 1.5, "topP": 0.9},
        },
    ),
    "image": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": PNG_DATA_URL, "detail": "low"}},
                    ],
                }
            ]
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        text("What is this?"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                        },
                    ],
                }
            ],
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "What is this?"},
                        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                    ],
                }
            ]
        },
    ),
    "tools_with_results": (
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        tool_call("call_1", "get_weather", '{"city": "Paris"}'),
                        tool_call("call_2", "get_weather", '{"city": "Rome"}'),
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
                {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": [text("Weather in Paris and Rome?")]},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {
                            "type": "tool_use",
                            "id": "call_2",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21}'},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": "sunny"},
                    ],
                },
            ],
            "tools": [ANTHROPIC_WEATHER],
            "tool_choice": {"type": "auto"},
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                        {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                    ],
                },
            ],
            "tools": [{"functionDeclarations": [GEMINI_WEATHER]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        },
    ),
    "json_mode": (
        {
            "messages": [
                {"role": "system", "content": "You answer in JSON."},
                {"role": "user", "content": "List 2"},
            ],
            "response_format": {"type": "json_object"},
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "system": "You answer in JSON.",
            "messages": [{"role": "user", "content": [text("List 2")]}],
            "tools": [
                {
                    "name": "json_response",
                    "description": TOOL_DESCRIPTION,
                    "input_schema": {"type": "object", "additionalProperties": True},
                }
            ],
            "tool_choice": {"type": "tool", "name": "json_response", "disable_parallel_tool_use": True},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "List 2"}]}],
            "systemInstruction": {"parts": [{"text": "You answer in JSON."}]},
            "generationConfig": {"responseMimeType": "application/json"},
        },
    ),
    "json_schema": (
        {
            "messages": [{"role": "user", "content": "Give a"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "thing", "schema": JSON_SCHEMA, "strict": True},
            },
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": [text("Give a")]}],
            "tools": [{"name": "thing", "description": TOOL_DESCRIPTION, "input_schema": JSON_SCHEMA}],
            "tool_choice": {"type": "tool", "name": "thing", "disable_parallel_tool_use": True},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Give a"}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {"a": {"type": "INTEGER"}, "b": {"type": "STRING", "nullable": True}},
                    "required": ["a"],
                },
            },
        },
    ),
    "stop": (
        {"messages": [{"role": "user", "content": "Count"}], "stop": "END", "top_p": 0.5},
        {
            "model": "up-model",
            "max_tokens": 1024,
            "stop_sequences": ["END"],
            "top_p": 0.5,
            "messages": [{"role": "user", "content": [text("Count")]}],
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Count"}]}],
            "generationConfig": {"topP": 0.5, "stopSequences": ["END"]},
        },
    ),
    "stop_list_and_max_tokens": (
        {
            "messages": [{"role": "user", "content": "Write a long essay"}],
            "stop": ["\n\n", "THE END"],
            "max_tokens": 5,
        },
        {
            "model": "up-model",
            "max_tokens": 5,
            "stop_sequences": ["\n\n", "THE END"],
            "messages": [{"role": "user", "content": [text("Write a long essay")]}],
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Write a long essay"}]}],
            "generationConfig": {"maxOutputTokens": 5, "stopSequences": ["\n\n", "THE END"]},
        },
    ),
    "max_completion_tokens": (
        {"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 64},
        {"model": "up-model", "max_tokens": 64, "messages": [{"role": "user", "content": [text("Hi")]}]},
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "generationConfig": {"maxOutputTokens": 64},
        },
    ),
    "seven_messages_system_in_the_middle": (
        {
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "system", "content": "B"},
                {"role": "user", "content": "U1"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [tool_call("call_9", "lookup", '{"q":"x"}')],
                },
                {"role": "system", "content": "C"},
                {"role": "tool", "tool_call_id": "call_9", "content": "found"},
                {"role": "user", "content": "U2"},
            ]
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "system": "A\n\nB\n\nC",
            "messages": [
                {"role": "user", "content": [text("U1")]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "call_9", "name": "lookup", "input": {"q": "x"}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_9", "content": "found"},
                        text("U2"),
                    ],
                },
            ],
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "U1"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}]},
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "lookup", "response": {"result": "found"}}},
                        {"text": "U2"},
                    ],
                },
            ],
            "systemInstruction": {"parts": [{"text": "A\n\nB\n\nC"}]},
        },
    ),
    "unsupported_params_dropped_or_mapped": (
        {
            "messages": [{"role": "developer", "content": "Dev rules"}, {"role": "user", "content": "Hi"}],
            "presence_penalty": 0.5,
            "frequency_penalty": 0.2,
            "logprobs": True,
            "top_logprobs": 2,
            "logit_bias": {"50256": -100},
            "user": "user-42",
            "seed": 7,
            "service_tier": "auto",
            "n": 1,
        },
        {
            "model": "up-model",
            "max_tokens": 1024,
            "system": "Dev rules",
            "metadata": {"user_id": "user-42"},
            "messages": [{"role": "user", "content": [text("Hi")]}],
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "systemInstruction": {"parts": [{"text": "Dev rules"}]},
            "generationConfig": {"seed": 7},
        },
    ),
}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", list(CASES))
def test_anthropic_payload(case: str, stream: bool) -> None:
    request, expected, _ = CASES[case]
    before = copy.deepcopy(request)
    body = build_anthropic_request(make_call(request), stream=stream)
    assert body == ({**expected, "stream": True} if stream else expected)
    assert request == before  # the client's request is never mutated


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", list(CASES))
def test_gemini_payload(case: str, stream: bool) -> None:
    request, _, expected = CASES[case]
    before = copy.deepcopy(request)
    adapter = GeminiAdapter(ProviderConfig("google", "http://x", ""), connect_timeout=1, idle_timeout=1)
    path, body = adapter.build_request(make_call(request), stream=stream)
    assert body == expected
    assert path == (
        "/v1beta/models/up-model:streamGenerateContent?alt=sse"
        if stream
        else "/v1beta/models/up-model:generateContent"
    )
    assert "key=" not in path
    assert request == before


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", list(CASES))
def test_openai_payload_is_pass_through(case: str, stream: bool) -> None:
    request, _, _ = CASES[case]
    client_request = {"model": "public-model", **request}
    if stream:
        client_request["stream"] = True
    before = copy.deepcopy(client_request)
    body = build_openai_request(make_call(client_request), stream=stream)
    expected = {**request, "model": "up-model"}
    if case == "seven_messages_system_in_the_middle":  # tool results must follow the calls directly
        m = request["messages"]
        expected["messages"] = [m[0], m[1], m[2], m[3], m[5], m[4], m[6]]
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
    assert body == expected
    assert client_request == before


def test_openai_reasoning_model_gets_max_completion_tokens_and_no_sampling_params() -> None:
    request = {
        "model": "o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.5,
        "presence_penalty": 0.1,
        "seed": 3,
        "stream": True,
        "stream_options": {"include_usage": False},
    }
    body = build_openai_request(make_call(request, reasoning_model=True), stream=True)
    assert body == {
        "model": "up-model",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 100,
        "seed": 3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_openai_passes_tools_response_format_images_and_drops_unknown_fields() -> None:
    request = {
        "model": "gpt",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]}
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"},
        "n": 2,
        "seed": 1,
        "stop": ["x"],
        "max_completion_tokens": 9,
        "routing_hint": "cheap",  # not an OpenAI parameter: never forwarded
    }
    body = build_openai_request(make_call(request), stream=False)
    expected = {k: v for k, v in request.items() if k != "routing_hint"} | {"model": "up-model"}
    assert body == expected


def test_anthropic_remote_image_uses_url_source_and_gemini_rejects_it() -> None:
    request = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}],
            }
        ]
    }
    body = build_anthropic_request(make_call(request), stream=False)
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    ]
    with pytest.raises(UpstreamError) as info:
        build_gemini_request(make_call(request))
    assert (info.value.status, info.value.retryable) == (400, False)


def test_anthropic_rejects_n_above_one_before_calling_upstream() -> None:
    with pytest.raises(UpstreamError) as info:
        build_anthropic_request(
            make_call({"messages": [{"role": "user", "content": "Hi"}], "n": 2}), stream=False
        )
    assert info.value.status == 400
    assert info.value.param == "n"
    assert info.value.to_body()["error"]["type"] == "invalid_request_error"


def test_gemini_maps_n_to_candidate_count() -> None:
    body = build_gemini_request(make_call({"messages": [{"role": "user", "content": "Hi"}], "n": 3}))
    assert body["generationConfig"] == {"candidateCount": 3}


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected_choice", "tools_sent"),
    [
        ("auto", None, {"type": "auto"}, True),
        ("required", None, {"type": "any"}, True),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
            True,
        ),
        ("none", None, None, False),
        (None, None, None, True),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}, True),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}, True),
    ],
)
def test_anthropic_tool_choice(
    tool_choice: Any, parallel: Any, expected_choice: Any, tools_sent: bool
) -> None:
    request: dict[str, Any] = {"messages": [{"role": "user", "content": "Hi"}], "tools": [WEATHER_TOOL]}
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    body = build_anthropic_request(make_call(request), stream=False)
    assert body.get("tool_choice") == expected_choice
    assert ("tools" in body) is tools_sent


def test_anthropic_tool_choice_none_keeps_tools_when_history_has_tool_blocks() -> None:
    request = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [tool_call("call_1", "get_weather", '{"city":"Oslo"}')]},
            {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "none",
    }
    body = build_anthropic_request(make_call(request), stream=False)
    assert body["tool_choice"] == {"type": "none"}
    assert body["tools"] == [ANTHROPIC_WEATHER]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_gemini_tool_choice(tool_choice: Any, expected: dict[str, Any]) -> None:
    request = {
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": tool_choice,
    }
    assert build_gemini_request(make_call(request))["toolConfig"] == {"functionCallingConfig": expected}


def test_temperature_clamped_for_anthropic() -> None:
    low = build_anthropic_request(
        make_call({"messages": [{"role": "user", "content": "x"}], "temperature": -1}), stream=False
    )
    assert low["temperature"] == 0.0


def test_gemini_schema_refs_are_inlined_and_parameterless_tools_omit_parameters() -> None:
    request = {
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
            },
            {
                "type": "function",
                "function": {
                    "name": "book",
                    "parameters": {
                        "type": "object",
                        "$defs": {"Date": {"type": "string", "format": "date"}},
                        "properties": {
                            "day": {"$ref": "#/$defs/Date"},
                            "tags": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        ],
    }
    declarations = build_gemini_request(make_call(request))["tools"][0]["functionDeclarations"]
    assert declarations == [
        {"name": "now"},
        {
            "name": "book",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "day": {"type": "STRING", "format": "date"},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                },
            },
        },
    ]


def test_gemini_tool_message_for_unknown_call_id_is_rejected() -> None:
    request = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "tool", "tool_call_id": "nope", "content": "1"},
        ]
    }
    with pytest.raises(UpstreamError) as info:
        build_gemini_request(make_call(request))
    assert info.value.status == 400


def test_auth_headers() -> None:
    config = ProviderConfig("anthropic", "http://x", "")
    adapter = AnthropicAdapter(config, connect_timeout=1, idle_timeout=1)
    assert adapter.auth_headers("k") == {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    google = GeminiAdapter(ProviderConfig("google", "http://x", ""), connect_timeout=1, idle_timeout=1)
    assert google.auth_headers("k") == {"x-goog-api-key": "k"}
