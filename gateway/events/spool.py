"""An append-only, fsync'd disk spool for usage events that Kafka could not take (yet).

Records are ``<4-byte big-endian length><payload>`` in numbered segment files; replay reads segments in
order and deletes each one only after every record in it was delivered. A crash mid-replay re-sends
some events; the consumer drops them by ``event_id``.
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


class SpoolFull(Exception):
    pass


class Spool:
    def __init__(self, directory: Path, max_bytes: int = 1 << 30) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._size = sum(p.stat().st_size for p in self._segments())
        self._next_segment = max((self._number(p) for p in self._segments()), default=0) + 1

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.stem.split("-")[1])

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob("segment-*.log"), key=self._number)

    @property
    def size_bytes(self) -> int:
        return self._size

    def is_empty(self) -> bool:
        return not self._segments()

    def append(self, records: list[Record]) -> None:
        """Write records as a new segment and fsync it. Raises SpoolFull past the size cap."""
        if not records:
            return
        payload = bytearray()
        for key, value in records:
            record = _LEN.pack(len(key)) + key + _LEN.pack(len(value)) + value
            payload += record
        if self._size + len(payload) > self.max_bytes:
            raise SpoolFull(f"spool at {self.directory} is full ({self._size} bytes)")
        path = self.directory / f"segment-{self._next_segment:012d}.log"
        self._next_segment += 1
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

    def segments(self) -> Iterator[tuple[Path, list[Record]]]:
        """Every segment in order with its records (a torn tail record is dropped with a warning)."""
        for path in self._segments():
            yield path, self._read(path)

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
                if len(value) != vlen:
                    raise struct.error("short record")
                records.append((key, value))
        except struct.error:
            log.warning("spool segment %s has a torn record at byte %d; kept %d records", path, pos, len(records))
        return records

    def remove(self, path: Path) -> None:
        size = path.stat().st_size
        path.unlink()
        self._size -= size
