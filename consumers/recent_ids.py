"""The per-partition window of recently loaded event ids (drops a producer re-send at a new offset)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable


class RecentIds:
    """A bounded, insertion-ordered set of event ids: the oldest are forgotten first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[uuid.UUID, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_all(self, event_ids: Iterable[uuid.UUID]) -> None:
        ids = self._ids
        for event_id in event_ids:
            ids[event_id] = None
        while len(ids) > self.capacity:
            ids.popitem(last=False)
