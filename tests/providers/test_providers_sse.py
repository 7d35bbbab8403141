"""The incremental SSE parser: line endings, multi-line data, comments, event names, split UTF-8."""

from __future__ import annotations

import pytest

from gateway.providers.sse import SSEEvent, SSEParser


def parse_in_pieces(raw: bytes, size: int) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for start in range(0, len(raw), size):
        events.extend(parser.feed(raw[start : start + size]))
    events.extend(parser.close())
    return events


STREAM = (
    b": keep-alive comment\n"
    b"event: message_start\n"
    b'data: {"a": 1}\n'
    b"\n"
    b"event: ping\r\n"
    b"data: {}\r\n"
    b"\r\n"
    b"data: first line\r"
    b"data:second line\r"
    b"\r"
    b"id: 7\n"
    b"data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
    b"\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent("ping", "{}"),
    SSEEvent("message", "first line\nsecond line"),
    SSEEvent("message", "café € 😀", "7"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, len(STREAM)])
def test_any_split_gives_the_same_events(size: int) -> None:
    assert parse_in_pieces(STREAM, size) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\n") == [SSEEvent("message", "x")]


def test_comment_only_and_empty_events_dispatch_nothing() -> None:
    assert parse_in_pieces(b": ping\n\n:\n\nevent: x\n\n", 4) == []


def test_unterminated_last_event_is_delivered_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == [SSEEvent("message", "[DONE]")]


def test_data_without_space_and_unknown_fields() -> None:
    assert parse_in_pieces(b"retry: 10\nfoo: bar\ndata:x\ndata\n\n", 3) == [SSEEvent("message", "x\n")]
