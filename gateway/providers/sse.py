"""Incremental Server-Sent Events parser over raw bytes.

Lines are split on bytes (``\\r\\n``, ``\\n`` or ``\\r``) before decoding, so a multi-byte UTF-8 character
split across network chunks always arrives whole: a line ending byte never occurs inside one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


class SSEParser:
    """Feed bytes as they arrive; get back every event that completed (terminated by a blank line)."""

    __slots__ = ("_data", "_event", "_id", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._pending + chunk if self._pending else chunk
        held = b""
        if buf.endswith(b"\r"):  # may be the first half of a \r\n split across chunks
            buf, held = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._pending = lines.pop() + held
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an unterminated last event is still delivered (lenient to servers that omit it)."""
        events: list[SSEEvent] = []
        rest = self._pending.rstrip(b"\r")
        self._pending = b""
        if rest:
            self._line(rest, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data), self._id))
            self._data = []
            self._event = ""
            return
        if line[0] == 0x3A:  # ":" comment / keep-alive
            return
        text = line.decode("utf-8", errors="replace")
        name, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
