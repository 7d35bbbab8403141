"""Malformed requests: each a clean 4xx in the standard error shape, never a 500, never a provider call."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from tests.conftest import RunningGateway, new_account

MESSAGES = [{"role": "user", "content": "hi"}]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _json(body: object) -> bytes:
    return orjson.dumps(body)


def _chat(**fields: object) -> bytes:
    return _json({"messages": MESSAGES, **fields})


JSON = "application/json"
BIG_IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\0" * (11 * 1024 * 1024)).decode()

CASES = [
    ("wrong content type", b"hello", "text/plain", 415),
    ("form content type", b"a=b", "application/x-www-form-urlencoded", 415),
    ("invalid json", b'{"messages": [', JSON, 400),
    ("empty body", b"", JSON, 400),
    ("NaN literal", b'{"messages": [], "temperature": NaN}', JSON, 400),
    ("lone surrogate", b'{"messages": [{"role": "user", "content": "\\ud800"}]}', JSON, 400),
    ("not an object", _json([MESSAGES]), JSON, 400),
    ("no messages", _json({"model": "auto"}), JSON, 400),
    ("empty messages", _chat(messages=[]), JSON, 400),
    ("too many messages", _chat(messages=MESSAGES * 2049), JSON, 400),
    ("message not an object", _chat(messages=["hi"]), JSON, 400),
    ("unknown role", _chat(messages=[{"role": "wizard", "content": "hi"}]), JSON, 400),
    ("content wrong type", _chat(messages=[{"role": "user", "content": 42}]), JSON, 400),
    ("missing content", _chat(messages=[{"role": "user"}]), JSON, 400),
    ("unknown content part", _chat(messages=[{"role": "user", "content": [{"type": "video"}]}]), JSON, 400),
    ("tool message without id", _chat(messages=[{"role": "tool", "content": "x"}]), JSON, 400),
    ("negative max_tokens", _chat(max_tokens=-1), JSON, 400),
    ("zero max_tokens", _chat(max_tokens=0), JSON, 400),
    ("huge max_tokens", _chat(max_tokens=10**12), JSON, 400),
    ("string max_tokens", _chat(max_tokens="10"), JSON, 400),
    ("temperature too high", _chat(temperature=2.5), JSON, 400),
    ("negative temperature", _chat(temperature=-0.1), JSON, 400),
    ("temperature as text", _chat(temperature="hot"), JSON, 400),
    ("temperature overflow", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e400}',
     JSON, 400),
    ("n over the limit", _chat(n=9), JSON, 400),
    ("boolean n", _chat(n=True), JSON, 400),
    ("stream not boolean", _chat(stream="yes"), JSON, 400),
    ("model not a string", _chat(model=7), JSON, 400),
    ("tools not a list", _chat(tools={"type": "function"}), JSON, 400),
    ("tool without name", _chat(tools=[{"type": "function", "function": {}}]), JSON, 400),
    ("tool_calls a string", _chat(messages=[
        *MESSAGES, {"role": "assistant", "content": None, "tool_calls": "x"},
        {"role": "tool", "tool_call_id": "a", "content": "r"}]), JSON, 400),
    ("tool call function a string", _chat(messages=[*MESSAGES, {"role": "assistant", "content": None,
        "tool_calls": [{"id": "a", "type": "function", "function": "x"}]}]), JSON, 400),
    ("tool properties a list", _chat(model="gemini-2.5-flash-lite", tools=[{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": [1]}}}]), JSON, 400),
    ("tool_choice function a string", _chat(tools=[{"type": "function", "function": {"name": "f"}}],
                                            tool_choice={"type": "function", "function": "x"}), JSON, 400),
    ("tool_choice names a missing tool", _chat(tool_choice={"type": "function", "function": {"name": "f"}}),
     JSON, 400),
    ("stream_options without stream", _chat(stream_options={"include_usage": True}), JSON, 400),
    ("model of 257 characters", _chat(model="m" * 257), JSON, 400),
    ("image url not a URL", _chat(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "cat.png"}}]}]), JSON, 400),
    ("bad response_format", _chat(response_format={"type": "xml"}), JSON, 400),
    ("json_schema without schema", _chat(response_format={"type": "json_schema"}), JSON, 400),
    ("seed as text", _chat(seed="x"), JSON, 400),
    ("top_logprobs too high", _chat(top_logprobs=50), JSON, 400),
    ("logit_bias out of range", _chat(logit_bias={"50256": 1000}), JSON, 400),
    ("too many stop strings", _chat(stop=["a", "b", "c", "d", "e"]), JSON, 400),
    ("nested 100 deep", _chat(tools=[{"type": "function",
                                      "function": {"name": "f", "parameters": _nested(100)}}]), JSON, 400),
    ("nested 5000 deep", b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, 400),
    ("body over 10 MB", _chat(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": BIG_IMAGE}}]}]),
     JSON, 413),
]  # fmt: skip


def _upstream_calls() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "switchyard_upstream_seconds"
        for sample in metric.samples
        if sample.name.endswith("_count")
    )


@pytest.fixture(scope="module")
def api_module(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def key(api_module: httpx.Client) -> str:
    return new_account(api_module).gateway_key


@pytest.mark.parametrize(("name", "content", "content_type", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_chat_request(
    api_module: httpx.Client, key: str, name: str, content: bytes, content_type: str, status: int
) -> None:
    calls = _upstream_calls()
    reply = api_module.post(
        "/v1/chat/completions", content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    )  # fmt: skip
    assert reply.status_code == status, reply.text[:300]
    error = reply.json()["error"]
    assert error["code"] and error["message"] and error["type"] == "invalid_request_error"
    assert reply.headers["x-request-id"]
    assert _upstream_calls() == calls


API_CASES = [
    ("signup wrong types", "/api/auth/signup", _json({"email": 5, "password": ["x"]}), 400),
    ("signup short password", "/api/auth/signup", _json({"email": "a@example.com", "password": "x"}), 400),
    ("login not an object", "/api/auth/login", _json("hello"), 400),
    ("login deep", "/api/auth/login", b'{"email": ' + b"[" * 3000 + b"]" * 3000 + b"}", 400),
    ("refresh invalid json", "/api/auth/refresh", b"{", 400),
    ("compare empty", "/api/models/compare", _json({"models": []}), 400),
    ("compare wrong type", "/api/models/compare", _json({"models": "gpt-4o"}), 400),
]


@pytest.mark.parametrize(("name", "path", "content", "status"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_request(api_module: httpx.Client, name: str, path: str, content: bytes, status: int) -> None:
    reply = api_module.post(path, content=content, headers={"Content-Type": JSON})
    assert reply.status_code == status, reply.text[:300]
    assert reply.json()["error"]["code"]
