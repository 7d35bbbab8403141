"""When the loader writes what it holds: big inserts under backlog, small quick ones under light load.

Every insert costs ClickHouse a fixed ~20-30 ms (a new part in the table and in the rollup) on top of
~12 us per row, so rows are held until one of:

* ``max_rows`` are held (a backlog: the biggest insert, bounded for memory);
* the loader has caught up with the end of its partitions and the oldest held row has waited
  ``linger_seconds`` (light or steady load: rows become queryable quickly, while the linger bounds
  the number of inserts per second, and so the parts ClickHouse has to merge);
* the oldest held row has waited ``max_seconds`` (a steady stream that never lets it catch up).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlushPolicy:
    max_rows: int = 100_000
    max_seconds: float = 1.0
    linger_seconds: float = 0.2

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_seconds <= 0 or not 0 <= self.linger_seconds <= self.max_seconds:
            raise ValueError(f"invalid flush policy {self}")

    def due(self, held_rows: int, oldest_age_s: float, caught_up: bool) -> bool:
        if held_rows == 0:
            return False
        if held_rows >= self.max_rows or oldest_age_s >= self.max_seconds:
            return True
        return caught_up and oldest_age_s >= self.linger_seconds

    def wait_s(self, oldest_age_s: float, caught_up: bool) -> float:
        """How long until ``due`` can turn true with the rows held now (no new rows)."""
        limit = self.linger_seconds if caught_up else self.max_seconds
        return max(0.0, limit - oldest_age_s)


DEFAULT_POLICY = FlushPolicy()
