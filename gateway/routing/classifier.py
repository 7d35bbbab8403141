"""Request complexity classifier: simple / moderate / complex, from what is cheap to see in the request.

The score is a weighted sum of a few transparent features (see ``FEATURES`` and docs/routing.md), computed
from the OpenAI chat-completions request body. Token counts come from ``gateway.routing.tokens`` (cl100k,
loaded once: call ``warm_up()`` at start-up) and the text features from ``gateway.routing.features``.

Cost is linear in prompt size and bounded for very long prompts: token counts of long texts are estimated
from samples, and the text features look at the head and tail of the last user message only
(``FEATURE_HEAD_CHARS`` / ``FEATURE_TAIL_CHARS``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.routing.features import system_hint, text_features
from gateway.routing.tokens import EXACT_TOKENIZE_CHARS, count_tokens, get_encoder, warm_up

__all__ = [
    "EXACT_TOKENIZE_CHARS", "FEATURES", "Classification", "ClassifierConfig", "classify", "count_tokens",
    "load_classifier_config", "requested_max_output", "warm_up",
]

_get_encoder = get_encoder  # the tiktoken encoding, for callers that need real token ids

Complexity = Literal["simple", "moderate", "complex"]

# Token accounting (OpenAI's published chat overhead; image estimate = a 1024x1024 high-detail tile set).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
IMAGE_TOKENS = 765
LOW_DETAIL_IMAGE_TOKENS = 85

FEATURE_HEAD_CHARS = 2_000
FEATURE_TAIL_CHARS = 1_000
CONTEXT_CARRY = 0.5
CARRIED_FEATURES = ("code", "math", "numbers", "quantity_relations", "reasoning", "structured_output")

# Feature names, each documented in docs/routing.md. Values are small non-negative numbers (mostly 0..~3).
FEATURES: tuple[str, ...] = (
    "prompt_length",  # log2(1 + conversation tokens / 64): user and assistant turns only
    "last_message_length",  # log2(1 + last user message tokens / 64)
    "conversation_depth",  # earlier user turns, capped at 6
    "code",  # fenced blocks and code-like lines, programming vocabulary
    "math",  # LaTeX, equations, math vocabulary
    "numbers",  # how many numeric quantities the last message juggles (capped)
    "quantity_relations",  # "3 more than", "twice as many", "half of", "20%": quantities defined by others
    "reasoning",  # step-by-step / prove / derive / plan / analyse requests
    "structured_output",  # JSON / table / CSV / extraction requests
    "long_output",  # essays, reports, "at least N words", many sections
    "constraints",  # hard formatting or wording constraints
    "multi_part",  # several numbered sub-tasks or questions
    "casual",  # greetings, chit-chat, creative writing, role play (negative weight)
    "transform_task",  # prompt_length again when the request is to summarise/translate/rewrite (negative)
    "tools",  # tools offered to the model
    "images",  # image inputs
    "max_tokens",  # log2 of the requested output budget above 1k
    "system_hint",  # system prompt asking for expertise/rigour (+) or brevity (-)
)

DEFAULT_WEIGHTS: dict[str, float] = {
    "prompt_length": 1.2,
    "last_message_length": 0.0,
    "conversation_depth": 0.8,
    "code": 1.1,
    "math": 1.0,
    "numbers": 0.1,
    "quantity_relations": 0.6,
    "reasoning": 1.0,
    "structured_output": 0.7,
    "long_output": 0.3,
    "constraints": 0.4,
    "multi_part": 0.3,
    "casual": -0.9,
    "transform_task": -1.0,
    "tools": 0.4,
    "images": 0.3,
    "max_tokens": 0.25,
    "system_hint": 0.4,
}


@dataclass(frozen=True)
class ClassifierConfig:
    """Feature weights and the two score thresholds that cut the scale into three classes."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = 0.0
    moderate_threshold: float = 1.0  # score >= this -> at least "moderate"
    complex_threshold: float = 2.25  # score >= this -> "complex"

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown classifier features: {sorted(unknown)}")
        if self.complex_threshold < self.moderate_threshold:
            raise ValueError("complex_threshold must be >= moderate_threshold")

    def complexity_for(self, score: float) -> Complexity:
        if score >= self.complex_threshold:
            return "complex"
        if score >= self.moderate_threshold:
            return "moderate"
        return "simple"


def load_classifier_config(path: str | os.PathLike[str]) -> ClassifierConfig:
    """Read a classifier config JSON file.

    Shape: ``{"weights": {...}, "bias": 0, "moderate_threshold": x, "complex_threshold": y}``.

    Weights not named in the file keep their defaults.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot load classifier config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"classifier config {path} must be a JSON object")
    allowed = {"weights", "bias", "moderate_threshold", "complex_threshold"}
    extra = set(data) - allowed
    if extra:
        raise ValueError(f"classifier config {path}: unknown keys {sorted(extra)}")
    weights = dict(DEFAULT_WEIGHTS)
    weights.update({str(k): float(v) for k, v in (data.get("weights") or {}).items()})
    base = ClassifierConfig()
    return ClassifierConfig(
        weights=weights,
        bias=float(data.get("bias", base.bias)),
        moderate_threshold=float(data.get("moderate_threshold", base.moderate_threshold)),
        complex_threshold=float(data.get("complex_threshold", base.complex_threshold)),
    )


def _default_config() -> ClassifierConfig:
    path = os.environ.get("CLASSIFIER_CONFIG_PATH", "")
    return load_classifier_config(path) if path else ClassifierConfig()


DEFAULT: ClassifierConfig = _default_config()


@dataclass(frozen=True)
class Classification:
    complexity: Complexity
    score: float
    prompt_tokens: int
    features: dict[str, float]
    needs_vision: bool
    needs_tools: bool
    needs_json: bool
    # True when a text was longer than EXACT_TOKENIZE_CHARS, so prompt_tokens is a sampled estimate
    # (the router then checks the context window with a margin).
    prompt_tokens_estimated: bool = False


def _capped(count: int, cap: int) -> float:
    return float(min(count, cap))


def _log_scale(tokens: int, unit: int) -> float:
    return math.log2(1.0 + tokens / unit)


def _feature_window(text: str) -> str:
    if len(text) <= FEATURE_HEAD_CHARS + FEATURE_TAIL_CHARS:
        return text
    return text[:FEATURE_HEAD_CHARS] + "\n" + text[-FEATURE_TAIL_CHARS:]


# ---------------------------------------------------------------------------------------------------------
# Request parsing


@dataclass
class _Parsed:
    texts: list[str]  # every text that reaches the model; the last user text, if any, is among them
    system_texts: int  # how many of ``texts`` (the first ones seen as system/developer) are instructions
    system_text: str
    last_user_text: str
    earlier_user_text: str
    user_turns: int
    messages: int
    images: int
    low_detail_images: int


def _content_text(content: Any, parsed: _Parsed) -> str:
    """Text of a message's content (string or list of parts); counts image parts on the side."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str):
                pieces.append(text)
        elif kind in ("image_url", "input_image", "image"):
            parsed.images += 1
            image = part.get("image_url")
            if isinstance(image, dict) and image.get("detail") == "low":
                parsed.low_detail_images += 1
    return "\n".join(pieces)


def _parse(request: dict[str, Any]) -> _Parsed:
    parsed = _Parsed(texts=[], system_texts=0, system_text="", last_user_text="", earlier_user_text="",
                     user_turns=0, messages=0, images=0, low_detail_images=0)
    messages = request.get("messages")
    if not isinstance(messages, list):
        return parsed
    system_parts: list[str] = []
    user_texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        parsed.messages += 1
        role = message.get("role")
        text = _content_text(message.get("content"), parsed)
        tool_calls = message.get("tool_calls")
        if isinstance(tool_calls, list) and tool_calls:
            text = text + "\n" + json.dumps(tool_calls, separators=(",", ":"), default=str)
        if role in ("system", "developer"):
            system_parts.append(text)
            if text:  # instructions first, so the conversation's own texts are the rest
                parsed.texts.insert(parsed.system_texts, text)
                parsed.system_texts += 1
            continue
        if text:
            parsed.texts.append(text)
        if role == "user":
            parsed.user_turns += 1
            user_texts.append(text)
    parsed.system_text = "\n".join(system_parts)
    if user_texts:
        parsed.last_user_text = user_texts[-1]
        parsed.earlier_user_text = "\n".join(user_texts[-4:-1])
    return parsed


def _wants_json(request: dict[str, Any]) -> bool:
    response_format = request.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def _tool_definitions(request: dict[str, Any]) -> list[Any]:
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        return tools
    functions = request.get("functions")  # legacy function calling
    if isinstance(functions, list) and functions:
        return functions
    return []


def requested_max_output(request: dict[str, Any]) -> int | None:
    """The caller's output budget: ``max_completion_tokens``, else ``max_tokens``; None when absent."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def classify(request: dict[str, Any], *, config: ClassifierConfig = DEFAULT) -> Classification:
    """Score an OpenAI chat-completions request body and put it in a complexity class."""
    parsed = _parse(request)
    tools = _tool_definitions(request)

    prompt_tokens = TOKENS_PER_REPLY
    last_tokens = 0
    # Length is scored on what the users and the model said. System prompts, images and tool definitions
    # are mostly boilerplate with features of their own, so they do not make a request "long".
    conversation_tokens = 0
    estimated = False
    for index, text in enumerate(parsed.texts):
        estimated = estimated or len(text) > EXACT_TOKENIZE_CHARS
        tokens = count_tokens(text)
        prompt_tokens += tokens
        if index >= parsed.system_texts:
            conversation_tokens += tokens
        if text is parsed.last_user_text:
            last_tokens = tokens
    prompt_tokens += TOKENS_PER_MESSAGE * parsed.messages
    prompt_tokens += (parsed.images - parsed.low_detail_images) * IMAGE_TOKENS
    prompt_tokens += parsed.low_detail_images * LOW_DETAIL_IMAGE_TOKENS
    if tools:
        tool_json = json.dumps(tools, separators=(",", ":"), default=str)
        estimated = estimated or len(tool_json) > EXACT_TOKENIZE_CHARS
        prompt_tokens += count_tokens(tool_json)

    last_text = _feature_window(parsed.last_user_text)
    features = text_features(last_text)
    if parsed.earlier_user_text:
        # A follow-up inherits its conversation's topic: earlier user turns count at CONTEXT_CARRY weight.
        earlier = text_features(_feature_window(parsed.earlier_user_text))
        for name in CARRIED_FEATURES:
            features[name] += CONTEXT_CARRY * earlier[name]
    features["prompt_length"] = _log_scale(conversation_tokens, 64)
    # Summarising, translating or rewriting a long text is not hard because the text is long.
    features["transform_task"] = features["prompt_length"] if features.pop("transform") else 0.0
    features["last_message_length"] = _log_scale(last_tokens, 64)
    features["conversation_depth"] = _capped(max(parsed.user_turns - 1, 0), 6)
    features["tools"] = min(2.0, 1.0 + math.log2(len(tools))) if tools else 0.0
    features["images"] = _capped(parsed.images, 4) / 2.0
    max_out = requested_max_output(request)
    features["max_tokens"] = max(0.0, math.log2(max_out / 1024)) if max_out else 0.0
    features["system_hint"] = system_hint(_feature_window(parsed.system_text))

    weights = config.weights
    score = config.bias + sum(weights.get(name, 0.0) * value for name, value in features.items())
    return Classification(
        complexity=config.complexity_for(score),
        score=score,
        prompt_tokens=prompt_tokens,
        features=features,
        needs_vision=parsed.images > 0,
        needs_tools=bool(tools),
        needs_json=_wants_json(request),
        prompt_tokens_estimated=estimated,
    )
