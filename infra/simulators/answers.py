"""Deterministic, plausible answers: tokenizer, text composer, tool-call arguments, JSON bodies.

Everything here is a pure function of its inputs, so one request always yields the same answer
and tests can predict token counts exactly.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

import orjson

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])")

_SUBJECTS = [
    "the gateway",
    "a careful reader",
    "the model",
    "this approach",
    "the team",
    "our system",
    "the cache",
    "a simple plan",
    "the router",
    "each request",
    "the answer",
    "a good test",
]
_VERBS = [
    "balances",
    "improves",
    "explains",
    "handles",
    "measures",
    "routes",
    "describes",
    "protects",
    "reduces",
    "shapes",
    "supports",
    "tracks",
    "compares",
    "chooses",
]
_ADJECTIVES = [
    "reliable",
    "quick",
    "clear",
    "modest",
    "practical",
    "steady",
    "small",
    "useful",
    "honest",
    "cheap",
    "robust",
    "simple",
    "careful",
    "precise",
]
_NOUNS = [
    "latency",
    "costs",
    "traffic",
    "results",
    "errors",
    "budgets",
    "questions",
    "details",
    "requests",
    "tokens",
    "choices",
    "limits",
    "patterns",
    "signals",
]
_TAILS = [
    "in practice",
    "over time",
    "for most users",
    "under load",
    "without surprises",
    "at a fair price",
    "when it matters",
    "across providers",
]
_OPENERS = ["Sure", "Certainly", "In short", "Good question", "Here is the idea", "Briefly"]
_UNICODE_BITS = ["café", "naïve", "résumé", "—", "😀", "déjà", "vu", "über", "—", "niño"]
_UNICODE_OPENING = "Voilà — a café answer 😀 ."


def count_tokens(text: str) -> int:
    """Counts words and punctuation marks; the one tokenizer every simulator uses."""
    return len(TOKEN_RE.findall(text))


def split_pieces(text: str) -> list[str]:
    """Splits text into stream pieces, one token each, leading whitespace kept so ''.join == text."""
    pieces = PIECE_RE.findall(text)
    consumed = sum(len(piece) for piece in pieces)
    if consumed < len(text) and pieces:
        pieces[-1] += text[consumed:]
    return pieces


def seed_of(value: Any) -> int:
    """A stable 64-bit seed from any JSON-serialisable value."""
    digest = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "big")


def default_answer_length(seed: int, prompt_tokens: int) -> int:
    """Answer length grows with the prompt, with some seeded variety, and stays modest."""
    return 12 + seed % 37 + min(prompt_tokens, 400) // 8


def _sentence(rng: random.Random, with_unicode: bool) -> list[str]:
    words = [
        rng.choice(_SUBJECTS),
        rng.choice(_VERBS),
        rng.choice(_ADJECTIVES),
        rng.choice(_NOUNS),
        rng.choice(_TAILS),
    ]
    tokens = " ".join(words).split()
    if with_unicode:
        tokens.insert(rng.randrange(1, len(tokens)), rng.choice(_UNICODE_BITS))
    tokens[0] = tokens[0].capitalize()
    if rng.random() < 0.3:
        cut = rng.randrange(2, len(tokens))
        tokens.insert(cut, ",")
    tokens.append(rng.choice([".", ".", ".", "!"]))
    return tokens


def _join(tokens: list[str]) -> str:
    text = ""
    for token in tokens:
        attach = token in {".", ",", "!", "?", ";", ":"}
        text += token if (attach or not text) else " " + token
    return text


def compose_answer(seed: int, n_tokens: int, with_unicode: bool = False, exact: bool = True) -> str:
    """Composes English-looking text of exactly `n_tokens` tokens (per `count_tokens`).

    With `exact=False` the text runs on to the end of the sentence holding token `n_tokens`.
    """
    if n_tokens <= 0:
        return ""
    rng = random.Random(seed)
    sprinkle = with_unicode or rng.random() < 0.25
    tokens: list[str] = []
    if with_unicode:
        tokens += _UNICODE_OPENING.split()
    elif rng.random() < 0.6:
        tokens += [*rng.choice(_OPENERS).split(), "."]
    while len(tokens) < n_tokens:
        tokens += _sentence(rng, sprinkle and rng.random() < 0.5)
    if not exact:
        n_tokens = next(
            (i + 1 for i in range(n_tokens - 1, len(tokens)) if tokens[i] in {".", "!"}), len(tokens)
        )
    tokens = tokens[:n_tokens]
    if n_tokens >= 2 and tokens[-1] not in {".", "!"}:
        tokens[-1] = "." if tokens[-2] not in {",", ".", "!", "—"} else tokens[-1]
    text = _join(tokens)
    # A token split over the join boundary could merge ("vu" + "." is fine); keep the count exact.
    while count_tokens(text) > n_tokens:
        tokens = tokens[:-1]
        text = _join(tokens)
    return text


def truncate_tokens(text: str, n_tokens: int) -> str:
    """The prefix of `text` holding its first `n_tokens` tokens."""
    if n_tokens <= 0:
        return ""
    pieces = split_pieces(text)
    return "".join(pieces[:n_tokens]).lstrip() if len(pieces) > n_tokens else text


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """Cuts `text` before the earliest stop sequence; returns the text and the sequence hit."""
    best: tuple[int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        position = text.find(stop)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, stop)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


_STRING_HINTS = {
    "location": "Paris, France",
    "city": "Paris",
    "country": "France",
    "query": "switchyard routing",
    "unit": "celsius",
    "units": "celsius",
    "name": "Ada",
    "email": "ada@example.com",
    "date": "2025-01-15",
    "language": "en",
    "timezone": "Europe/Paris",
    "url": "https://example.com",
    "symbol": "ACME",
}


def example_for_schema(schema: dict[str, Any] | None, name: str, seed: int) -> Any:
    """A value matching a JSON schema fragment (OpenAPI upper-case types accepted)."""
    schema = schema or {}
    if schema.get("enum"):
        return schema["enum"][seed % len(schema["enum"])]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    kind = str(kind).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            key: example_for_schema(sub, key, seed + index)
            for index, (key, sub) in enumerate(properties.items())
        }
    if kind == "array":
        return [example_for_schema(schema.get("items"), name, seed + i) for i in range(1 + seed % 2)]
    if kind == "integer":
        return 1 + seed % 9
    if kind == "number":
        return round(1 + (seed % 900) / 100, 2)
    if kind == "boolean":
        return seed % 2 == 0
    return _STRING_HINTS.get(name.lower(), compose_answer(seed, 3).rstrip("."))


def json_answer(seed: int, schema: dict[str, Any] | None, prompt_hint: str) -> str:
    """A JSON object body for JSON mode; follows `schema` when one is given."""
    if schema and (schema.get("properties") or str(schema.get("type", "")).lower() == "object"):
        value = example_for_schema(schema, "root", seed)
        if not isinstance(value, dict):
            value = {"value": value}
    else:
        value = {
            "answer": compose_answer(seed, 8),
            "topic": prompt_hint[:40],
            "confidence": round(0.5 + (seed % 50) / 100, 2),
        }
    return orjson.dumps(value).decode()
