"""The Gemini simulator, read through the official `google-genai` SDK and its pydantic types."""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import errors, types

from tests.simulators.sim_harness import HTTP, RunningSimulator, sse_frames

KEY = "sim-google-key"
MODEL = "gemini-2.0-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather",
    parameters=types.Schema(
        type="OBJECT",
        properties={"location": types.Schema(type="STRING"), "days": types.Schema(type="INTEGER")},
        required=["location"],
    ),
)
TOOL_RESULT_TURNS = [
    types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
    types.Content(
        role="model",
        parts=[types.Part(function_call=types.FunctionCall(name="get_weather", args={"location": "Paris"}))],
    ),
    types.Content(
        role="user",
        parts=[
            types.Part(function_response=types.FunctionResponse(name="get_weather", response={"temp": 21}))
        ],
    ),
]
SHAPES = {
    "plain": ("Tell me about routers.", {}),
    "system": ("Explain caching.", {"system_instruction": "Be terse."}),
    "multi_turn": (
        [
            types.Content(role="user", parts=[types.Part(text="Hi")]),
            types.Content(role="model", parts=[types.Part(text="Hello!")]),
            types.Content(role="user", parts=[types.Part(text="Summarise.")]),
        ],
        {},
    ),
    "tool_results": (TOOL_RESULT_TURNS, {"tools": [types.Tool(function_declarations=[WEATHER])]}),
    "json_mode": ("Describe a cat", {"response_mime_type": "application/json"}),
    "max_tokens_hit": ("Go long", {"max_output_tokens": 6}),
    "unicode": ("Say something [[sim:unicode]]", {}),
    "stop": ("Write [[sim:tokens=40]]", {"stop_sequences": ["."]}),
}


@pytest.fixture(scope="module")
def sdk(gemini_server: RunningSimulator) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=gemini_server.base_url))


@pytest.fixture
def client(sdk: genai.Client, gemini_sim_server: RunningSimulator) -> genai.Client:
    return sdk


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_request_shapes_generate_and_stream_agree(client: genai.Client, shape: str) -> None:
    contents, config = SHAPES[shape]
    kwargs = {"model": MODEL, "contents": contents, "config": types.GenerateContentConfig(**config)}
    response = client.models.generate_content(**kwargs)
    candidate = response.candidates[0]
    chunks = list(client.models.generate_content_stream(**kwargs))
    streamed = "".join(c.text or "" for c in chunks)
    assert streamed == response.text
    assert chunks[-1].candidates[0].finish_reason == candidate.finish_reason
    assert chunks[-1].usage_metadata.candidates_token_count == response.usage_metadata.candidates_token_count
    usage = response.usage_metadata
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    expected = types.FinishReason.MAX_TOKENS if shape == "max_tokens_hit" else types.FinishReason.STOP
    assert candidate.finish_reason == expected
    if shape == "json_mode":
        assert isinstance(json.loads(response.text), dict)
    if shape == "unicode":
        assert "é" in response.text and "😀" in response.text
    if shape == "stop":
        assert "." not in response.text


def test_function_calls_have_declared_args(client: genai.Client) -> None:
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    response = client.models.generate_content(
        model=MODEL, contents="use get_weather [[sim:parallel_tools]]", config=config
    )
    calls = response.function_calls or []
    assert len(calls) == 2
    assert all(
        c.name == "get_weather" and set(c.args) == {"location", "days"} and c.id is None for c in calls
    )


def test_raw_sse_framing_and_strict_types(gemini_sim_server: RunningSimulator) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello [[sim:tokens=40]]"}]}]}
    response = HTTP.post(
        f"{gemini_sim_server.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(response.content, b"\r\n\r\n")
    assert len(frames) > 1
    parsed = [
        types.GenerateContentResponse.model_validate(json.loads(f.removeprefix(b"data: "))) for f in frames
    ]
    counts = [p.usage_metadata.candidates_token_count for p in parsed]
    assert counts == sorted(counts) and counts[-1] == 40
    assert parsed[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(p.candidates[0].finish_reason is None for p in parsed[:-1])


def test_without_alt_sse_streams_a_json_array(gemini_sim_server: RunningSimulator) -> None:
    body = {"contents": [{"parts": [{"text": "hello"}]}]}
    response = HTTP.post(
        f"{gemini_sim_server.base_url}/v1beta/models/{MODEL}:streamGenerateContent",
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    items = json.loads(response.content)
    assert isinstance(items, list) and items
    types.GenerateContentResponse.model_validate(items[0])


def test_thinking_model_reports_thoughts(client: genai.Client) -> None:
    response = client.models.generate_content(model="gemini-2.5-flash", contents="hi [[sim:reasoning=33]]")
    usage = response.usage_metadata
    assert usage.thoughts_token_count == 33
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + 33


def test_cached_content_tokens(client: genai.Client) -> None:
    response = client.models.generate_content(model=MODEL, contents="hi [[sim:usage_cache_read=128]]")
    assert response.usage_metadata.cached_content_token_count == 128


def test_blocked_prompt_and_safety_finish(client: genai.Client) -> None:
    blocked = client.models.generate_content(model=MODEL, contents="[[sim:fault=blocked]]")
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert not blocked.candidates
    safety = client.models.generate_content(model=MODEL, contents="[[sim:fault=safety]]")
    assert safety.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert safety.candidates[0].content is None and safety.text is None


@pytest.mark.parametrize(
    ("fault", "error_class", "code", "status"),
    [
        ("429", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        ("500", errors.ServerError, 500, "INTERNAL"),
        ("503", errors.ServerError, 503, "UNAVAILABLE"),
        ("529", errors.ServerError, 503, "UNAVAILABLE"),
        ("401", errors.ClientError, 400, "INVALID_ARGUMENT"),
        ("400", errors.ClientError, 400, "INVALID_ARGUMENT"),
    ],
)
def test_faults_raise_sdk_errors(
    client: genai.Client, fault: str, error_class: type, code: int, status: str
) -> None:
    with pytest.raises(error_class) as caught:
        client.models.generate_content(model=MODEL, contents=f"x [[sim:fault={fault}]]")
    assert caught.value.code == code and caught.value.status == status


def test_mid_stream_error(client: genai.Client) -> None:
    received = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="[[sim:fault=error_event]]"):
            received.append(chunk)
    assert len(received) == 2 and caught.value.status == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("url_suffix", "headers", "code", "status"),
    [
        ("", {}, 403, "PERMISSION_DENIED"),
        ("", {"x-goog-api-key": "AIza-wrong"}, 400, "INVALID_ARGUMENT"),
        (f"?key={KEY}", {}, 400, "INVALID_ARGUMENT"),
        (f"?key={KEY}", {"x-goog-api-key": KEY}, 400, "INVALID_ARGUMENT"),
    ],
)
def test_key_only_in_header(
    gemini_sim_server: RunningSimulator, url_suffix: str, headers: dict, code: int, status: str
) -> None:
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    url = f"{gemini_sim_server.base_url}/v1beta/models/{MODEL}:generateContent{url_suffix}"
    response = HTTP.post(url, json=body, headers=headers)
    assert response.status_code == code
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "status"} and error["status"] == status
    if "key=" in url_suffix:
        assert gemini_sim_server.stats()["last_request"]["query"]["key"] == "<redacted>"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "parts must not be empty"),
        (
            {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"max_tokens": 5}},
            'Unknown name "max_tokens"',
        ),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "function response turn",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseMimeType": "text/html"}},
            "allowed mimetypes",
        ),
    ],
)
def test_validation_like_the_real_api(gemini_sim_server: RunningSimulator, body: dict, needle: str) -> None:
    response = HTTP.post(
        f"{gemini_sim_server.base_url}/v1beta/models/{MODEL}:generateContent",
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and needle in error["message"]


def test_models_list_and_header_recorded(client: genai.Client, gemini_sim_server: RunningSimulator) -> None:
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names
    client.models.generate_content(model=MODEL, contents="hi")
    last = gemini_sim_server.stats()["last_request"]
    assert last["auth_header"] == "x-goog-api-key" and not last["key_in_query"]
    assert last["body"]["contents"][0]["parts"][0]["text"] == "hi"
