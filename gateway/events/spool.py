"""An append-only, fsync'd disk spool for usage events that Kafka could not take (yet).

Records are ``<4-byte big-endian length><key><4-byte length><value>`` in numbered segment files.
Replay reads segments in number order and deletes each one only after every record in it was
delivered; a crash mid-replay re-sends some events, and the consumer drops them by ``event_id``.

Segment numbers can be *reserved* before they are written: the sender reserves one when it takes a
batch from memory, and if that batch then fails it is written under the reserved (lower) number, so it
replays before anything spooled while it was in flight. Order on disk is therefore emit order.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("switchyard.spool")

_LEN = struct.Struct(">I")
Record = tuple[bytes, bytes]  # (key, value)
_PATTERN = "segment-*.log"


class SpoolFull(Exception):
    pass


class Spool:
    def __init__(self, directory: Path, max_bytes: int = 1 << 30) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("segment-*.tmp"):  # a crash while writing: never acknowledged
            leftover.unlink(missing_ok=True)
        self._numbers = sorted(self._number(p) for p in directory.glob(_PATTERN))
        self._size = sum(self._path(n).stat().st_size for n in self._numbers)
        self._next = (self._numbers[-1] if self._numbers else 0) + 1

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.stem.split("-")[1])

    def _path(self, number: int) -> Path:
        return self.directory / f"segment-{number:012d}.log"

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def segment_count(self) -> int:
        return len(self._numbers)

    def is_empty(self) -> bool:
        return not self._numbers

    def reserve(self) -> int:
        """A segment number that sorts after every segment written or reserved so far."""
        number = self._next
        self._next += 1
        return number

    def append(self, records: list[Record], number: int | None = None) -> None:
        """Write records as one segment and fsync it (and the directory). Raises SpoolFull past the
        size cap; the caller decides what to do with the records then."""
        if not records:
            return
        payload = bytearray()
        for key, value in records:
            payload += _LEN.pack(len(key))
            payload += key
            payload += _LEN.pack(len(value))
            payload += value
        if self._size + len(payload) > self.max_bytes:
            raise SpoolFull(f"spool at {self.directory} is full ({self._size} of {self.max_bytes} bytes)")
        if number is None:
            number = self.reserve()
        path = self._path(number)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._size += len(payload)
        self._numbers.append(number)
        self._numbers.sort()

    def first(self) -> tuple[int, list[Record]] | None:
        """The oldest segment and its records, or None when the spool is empty."""
        if not self._numbers:
            return None
        number = self._numbers[0]
        return number, self._read(self._path(number))

    def segments(self) -> Iterator[tuple[int, list[Record]]]:
        """Every segment in order with its records (read-only; for inspection and tests)."""
        for number in list(self._numbers):
            yield number, self._read(self._path(number))

    def _read(self, path: Path) -> list[Record]:
        data = path.read_bytes()
        records: list[Record] = []
        pos = 0
        try:
            while pos < len(data):
                (klen,) = _LEN.unpack_from(data, pos)
                pos += 4
                key = data[pos : pos + klen]
                pos += klen
                (vlen,) = _LEN.unpack_from(data, pos)
                pos += 4
                value = data[pos : pos + vlen]
                pos += vlen
                if len(key) != klen or len(value) != vlen:
                    raise struct.error("short record")
                records.append((key, value))
        except struct.error:
            log.warning("spool segment %s: torn record at byte %d; kept %d records", path, pos, len(records))
        return records

    def remove(self, number: int) -> None:
        path = self._path(number)
        size = path.stat().st_size
        path.unlink()
        self._size -= size
        self._numbers.remove(number)
