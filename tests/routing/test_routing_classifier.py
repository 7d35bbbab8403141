"""Complexity classifier on clear examples, feature extraction and configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.routing.classifier import (
    FEATURES,
    ClassifierConfig,
    classify,
    count_tokens,
    load_classifier_config,
)

RANK = {"simple": 0, "moderate": 1, "complex": 2}


def _user(text: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": text}], **extra}


CODE_REVIEW = """Please review this code for bugs, race conditions and performance issues, and suggest fixes:

```python
import threading

class Counter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def increment(self):
        current = self.value
        self.value = current + 1

    def reset(self):
        with self.lock:
            self.value = 0

def worker(counter, n):
    for _ in range(n):
        counter.increment()

def main():
    counter = Counter()
    threads = [threading.Thread(target=worker, args=(counter, 100000)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(counter.value)

if __name__ == "__main__":
    main()
```
"""


def test_greeting_is_simple():
    result = classify(_user("hi"))
    assert result.complexity == "simple"
    assert result.prompt_tokens < 20
    assert not (result.needs_vision or result.needs_tools or result.needs_json)


def test_proof_request_with_math_is_complex():
    result = classify(_user(
        "Prove step by step that for every integer $n \\ge 1$, $\\sum_{k=1}^{n} k^3 = (n(n+1)/2)^2$. "
        "Justify each step of the induction rigorously."
    ))
    assert result.complexity == "complex"
    assert result.features["math"] > 0 and result.features["reasoning"] > 0


def test_code_review_with_long_code_block_is_at_least_moderate():
    result = classify(_user(CODE_REVIEW))
    assert RANK[result.complexity] >= RANK["moderate"]
    assert result.features["code"] >= 1.0


def test_score_orders_clear_examples():
    hi = classify(_user("hello, how are you?")).score
    poem = classify(_user("Write a short poem about autumn leaves.")).score
    review = classify(_user(CODE_REVIEW)).score
    assert hi < review and poem < review


def test_prompt_tokens_use_the_real_tokenizer():
    text = "The quick brown fox jumps over the lazy dog. " * 40
    exact = count_tokens(text)
    assert 350 <= exact <= 450  # cl100k: about 10 tokens per sentence
    assert exact != len(text) // 4
    result = classify(_user(text))
    assert result.prompt_tokens == exact + 3 + 3  # one message overhead plus reply priming


def test_very_long_text_is_estimated_from_samples_within_a_few_percent():
    text = ("Distributed systems fail in partial and surprising ways; " * 4000)
    estimate = count_tokens(text)  # > EXACT_TOKENIZE_CHARS: sampled
    from gateway.routing.classifier import _get_encoder

    exact = len(_get_encoder().encode_ordinary(text))
    assert abs(estimate - exact) / exact < 0.05


def test_request_capabilities_are_detected():
    request = {
        "messages": [
            {"role": "system", "content": "You are a careful expert assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            ]},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 8192,
    }
    result = classify(request)
    assert result.needs_vision and result.needs_tools and result.needs_json
    assert result.features["images"] > 0 and result.features["tools"] > 0
    assert result.features["max_tokens"] == pytest.approx(3.0)
    assert result.features["system_hint"] > 0
    assert set(result.features) == set(FEATURES)


def test_follow_up_turn_inherits_the_conversation_topic():
    alone = classify(_user("Now find x such that f(x) = 0."))
    follow_up = classify({"messages": [
        {"role": "user", "content": "Given that f(x) = 4x^3 - 9x - 14, solve the equation and find f(2)."},
        {"role": "assistant", "content": "f(2) = 0"},
        {"role": "user", "content": "Now find x such that f(x) = 0."},
    ]})
    assert follow_up.score > alone.score
    assert follow_up.features["conversation_depth"] == 1.0


def test_malformed_requests_do_not_crash():
    assert classify({}).complexity == "simple"
    assert classify({"messages": "nope"}).prompt_tokens == 3
    assert classify({"messages": [None, {"role": "user", "content": [None, {"type": "text"}]}]}).score < 1


def test_thresholds_come_from_config():
    request = _user("Write a short poem about autumn leaves.")
    everything_complex = ClassifierConfig(moderate_threshold=-100, complex_threshold=-99)
    assert classify(request, config=everything_complex).complexity == "complex"
    with pytest.raises(ValueError):
        ClassifierConfig(moderate_threshold=2, complex_threshold=1)
    with pytest.raises(ValueError, match="unknown classifier features"):
        ClassifierConfig(weights={"vibes": 1.0})


def test_config_file_overrides_weights_and_thresholds(tmp_path: Path):
    path = tmp_path / "classifier.json"
    path.write_text(json.dumps({"weights": {"casual": 0.0}, "complex_threshold": 9.5}))
    config = load_classifier_config(path)
    assert config.weights["casual"] == 0.0 and config.complex_threshold == 9.5
    assert config.weights["code"] == ClassifierConfig().weights["code"]
    path.write_text(json.dumps({"threshold": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_classifier_config(path)


def test_a_long_system_prompt_or_an_image_does_not_make_a_small_question_complex() -> None:
    system = "You are a helpful assistant for Acme Corp. Be polite, concise and accurate. " * 20
    hello = classify({"messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]})
    assert hello.complexity == "simple"
    assert hello.prompt_tokens > 250  # still counted in full for context fit and cost
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    question = {"role": "user", "content": [image, {"type": "text", "text": "What colour?"}]}
    colour = classify({"messages": [question]})
    assert colour.complexity != "complex" and colour.needs_vision


# --- token counts ----------------------------------------------------------------------------------------

def test_fast_counts_equal_tiktoken_on_random_text():
    import random

    from gateway.routing.tokens import exact_tokens, get_encoder

    encode = get_encoder().encode_ordinary
    alphabet = "ab Z9'\n\r\t .,;-$%()\x0b\x0c_s\u00e9\u00a0\u4e2d\u3000\x1c\x85"
    rng = random.Random(5)
    for _ in range(5_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert exact_tokens(text) == len(encode(text)), repr(text)
    word = "x" * 60  # a chunk too long to cache
    for text in (f"see {word} and {word}", "a  b   c", "end  ", "  lead", "tab\t here", "line\n next"):
        assert exact_tokens(text) == len(encode(text)), repr(text)


def test_ascii_piece_split_equals_cl100k_on_code_and_whitespace_heavy_text():
    import random

    from gateway.routing.tokens import _ASCII_PIECE, exact_tokens, get_encoder

    encoder = get_encoder()
    encode = encoder.encode_ordinary
    # Indentation, blank lines, tabs, CRLF, runs of spaces, contractions in both cases, digits, rare controls.
    fragments = [
        "    ", "        ", "\t", "\n", "\r\n", "\n\n", "  ", " ", "   \n", "\t\n",
        "\x0b", "\x0c", "\x1c", "\x1f",
        "def", "return", "x", "Foo", "'s", "'S", "'ll", "'VE", "'re", "'d", "'t", "'M", "don't",
        "12345", "3.14",
        "(", "):", "{", "};", "[]", "==", "->", "#", "//", "\"", "'", "_", "-", "*", ":", ",", ".", "$", "!",
    ]
    rng = random.Random(11)
    for _ in range(6_000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 30)))
        assert exact_tokens(text) == len(encode(text)), repr(text)
    lines = []
    for depth in range(200):
        indent = rng.choice(["    ", "\t", "  "]) * (depth % 5)
        statement = rng.choice(["if (x > 1) {", "return y;", "}", "for i in range(10):", "# it's done",
                                "x = [1, 2,   3]", "", "   ", "print('a  b')\t"])
        lines.append(indent + statement)
    code = rng.choice(["\n", "\r\n"]).join(lines)
    assert exact_tokens(code) == len(encode(code))
    # The pieces match tiktoken's, not just their number: encoding them one by one gives the same token ids.
    encode_piece = encoder._encode_single_piece
    by_piece = [t for piece in _ASCII_PIECE.findall(code) for t in encode_piece(piece.encode())]
    assert by_piece == encode(code)


def test_fast_counts_equal_tiktoken_on_prose_and_code():
    from gateway.routing.tokens import exact_tokens, get_encoder

    encode = get_encoder().encode_ordinary
    ducks = "Janet\u2019s ducks lay 16 eggs per day.  She eats three."
    for text in (CODE_REVIEW, ducks, "Ich verstehe nur Bahnhof"):
        assert exact_tokens(text) == len(encode(text))


# --- quantity relations and transform tasks --------------------------------------------------------------

def test_quantity_relations_make_a_word_problem_harder():
    plain = classify(_user("Tom has 5 apples and buys 3 more. How many apples does he have?"))
    related = classify(_user(
        "Tom has 5 apples. Anna has twice as many apples as Tom, and Ben has 3 fewer than Anna. "
        "They give away 20% of all apples. How many apples are left?"
    ))
    assert plain.features["quantity_relations"] == 0.0
    assert related.features["quantity_relations"] >= 2.0
    assert related.score > plain.score + 1.0


def test_a_long_text_to_summarise_is_not_complex_because_it_is_long():
    article = "The council met on Tuesday to discuss the new bus routes and the library budget. " * 120
    summary = classify(_user("Summarize this article in three sentences:\n\n" + article))
    review = classify(_user("Review this article and analyze its argument step by step:\n\n" + article))
    assert summary.prompt_tokens > 1_500
    assert summary.features["transform_task"] == summary.features["prompt_length"] > 0
    assert summary.complexity != "complex"
    assert review.complexity == "complex"


def test_fast_feature_scans_count_like_their_regex_definitions():
    import random
    import re

    from gateway.routing import features

    fraction = re.compile(r"\d/\d")
    operator = re.compile(r"[=<>≤≥]")

    def regex_equations(lowered: str) -> int:
        count = 0
        for match in operator.finditer(lowered):
            at = match.start()
            left = lowered[max(0, at - 8) : at].rstrip()[-1:]
            right = lowered[at + 1 : at + 9].lstrip()[:1]
            count += left in features._EQUATION_LEFT and right in features._EQUATION_RIGHT
        return count

    fragments = ["x", "1", " ", "=", "<", ">", "≤", "≥", "(", ")", "=>", "é", "/", "2", "//", "1/2/3",
                 "\n", "- a"]
    rng = random.Random(4)
    for _ in range(20_000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(0, 20)))
        assert features._fraction_count(text) == len(fraction.findall(text)), repr(text)
        assert features._equation_count(text, 99) == regex_equations(text), repr(text)
        assert features._equation_count(text, 2) == min(2, regex_equations(text)), repr(text)
    assert features._line_cues("1. one\n  2) two\n- three\nab. no\ndef f(x):\n    return x;\n") == (2, 3)
