"""Non-streaming response translation and usage conventions."""

from __future__ import annotations

import pytest

from gateway.providers.anthropic_adapter import anthropic_completion
from gateway.providers.base import UpstreamError, Usage
from gateway.providers.gemini_adapter import gemini_completion, usage_from_gemini
from gateway.providers.openai_adapter import openai_completion
from tests.providers.provider_helpers import make_call

CALL = make_call({"messages": [{"role": "user", "content": "Hi"}]})


def test_usage_to_openai() -> None:
    usage = Usage(
        prompt_tokens=125, cached_tokens=100, cache_write_tokens=5, completion_tokens=15, reasoning_tokens=4
    )
    assert usage.to_openai() == {
        "prompt_tokens": 125,
        "completion_tokens": 15,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }


def test_openai_completion_is_restamped() -> None:
    data = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 5,
        "model": "gpt-4o-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 1,
            "total_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }
    completion = openai_completion(CALL, data)
    assert (completion.body["id"], completion.body["model"], completion.body["created"]) == (
        "chatcmpl-test123",
        "public-model",
        1700000000,
    )
    assert completion.body["choices"] == data["choices"]
    assert (completion.usage.prompt_tokens, completion.usage.cached_tokens) == (3, 2)
    assert data["id"] == "chatcmpl-up"  # upstream dict untouched


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_anthropic_finish_reasons(stop_reason: str, finish: str) -> None:
    data = {
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    assert anthropic_completion(CALL, data).body["choices"][0]["finish_reason"] == finish


def test_anthropic_text_tool_use_and_cache_usage() -> None:
    data = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 25,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 30,
            "output_tokens": 15,
        },
    }
    completion = anthropic_completion(CALL, data)
    assert completion.body == {
        "id": "chatcmpl-test123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "public-model",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 155,
            "completion_tokens": 15,
            "total_tokens": 170,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    assert completion.usage == Usage(
        prompt_tokens=155, cached_tokens=100, cache_write_tokens=30, completion_tokens=15
    )


def test_anthropic_tool_only_answer_has_null_content() -> None:
    data = {
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    message = anthropic_completion(CALL, data).body["choices"][0]["message"]
    assert message["content"] is None and message["tool_calls"][0]["function"]["arguments"] == "{}"


def test_gemini_usage_known_case() -> None:
    usage = usage_from_gemini(
        {
            "promptTokenCount": 15,
            "candidatesTokenCount": 359,
            "thoughtsTokenCount": 661,
            "totalTokenCount": 1035,
            "cachedContentTokenCount": 4,
        }
    )
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens, usage.cached_tokens) == (
        15,
        1020,
        661,
        4,
    )
    assert usage.total_tokens == 1035


@pytest.mark.parametrize(
    ("reason", "has_call", "finish"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
    ],
)
def test_gemini_finish_reasons(reason: str, has_call: bool, finish: str) -> None:
    parts = [{"functionCall": {"name": "f", "args": {"a": 1}}}] if has_call else [{"text": "x"}]
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason}]}
    body = gemini_completion(CALL, data).body
    assert body["choices"][0]["finish_reason"] == finish


def test_gemini_completion_function_calls_thoughts_and_candidates() -> None:
    data = {
        "candidates": [
            {
                "index": 0,
                "finishReason": "STOP",
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True},
                        {"text": "Sure."},
                        {"functionCall": {"name": "a", "args": {"x": 1}}},
                        {"functionCall": {"name": "b"}},
                    ],
                },
            },
            {
                "index": 1,
                "finishReason": "MAX_TOKENS",
                "content": {"role": "model", "parts": [{"text": "Lo"}]},
            },
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
    }
    body = gemini_completion(CALL, data).body
    first, second = body["choices"]
    assert first["message"]["content"] == "Sure."
    calls = first["message"]["tool_calls"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", '{"x":1}'),
        ("b", "{}"),
    ]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"].startswith("call_") for c in calls)
    assert first["finish_reason"] == "tool_calls"
    assert (second["index"], second["message"]["content"], second["finish_reason"]) == (1, "Lo", "length")
    assert body["usage"]["total_tokens"] == 15


def test_gemini_blocked_prompt_is_an_empty_content_filter_answer() -> None:
    data = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}}
    completion = gemini_completion(CALL, data)
    assert completion.body["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "content_filter",
            "message": {"role": "assistant", "content": "", "refusal": None, "annotations": []},
        }
    ]
    assert completion.usage.prompt_tokens == 8


def test_gemini_no_candidates_without_block_reason_is_upstream_error() -> None:
    with pytest.raises(UpstreamError) as info:
        gemini_completion(CALL, {"usageMetadata": {}})
    assert info.value.status == 502 and info.value.retryable
