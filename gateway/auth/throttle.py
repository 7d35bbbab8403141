"""Slowing down password guessing: failed logins counted per email and per client IP.

``LoginThrottle`` is the interface the login route uses; ``InMemoryLoginThrottle`` keeps a sliding
window per key in this process. Several gateway processes each keep their own windows, which bounds
guessing per process; a shared store (Postgres or Redis) can implement the same interface.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Protocol


class LoginThrottle(Protocol):
    async def retry_after(self, keys: Sequence[str]) -> int | None:
        """Seconds until another attempt is allowed, if any of the keys is over its limit."""
        ...

    async def record_failure(self, keys: Sequence[str]) -> None: ...

    async def reset(self, key: str) -> None:
        """Forget a key's failures (after a successful login)."""
        ...


class InMemoryLoginThrottle:
    """Sliding window: at most ``limits[kind]`` failures per ``window_s`` for each ``kind:value`` key."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        window_s: float = 15 * 60,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or {"email": 5, "ip": 20}
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _limit(self, key: str) -> int:
        return self.limits.get(key.split(":", 1)[0], min(self.limits.values()))

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    async def retry_after(self, keys: Sequence[str]) -> int | None:
        now = self._clock()
        waits = []
        for key in keys:
            times = self._recent(key, now)
            limit = self._limit(key)
            if times is not None and len(times) >= limit:
                # Allowed again once enough of the oldest failures have left the window.
                waits.append(times[len(times) - limit] + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else None

    async def record_failure(self, keys: Sequence[str]) -> None:
        now = self._clock()
        for key in keys:
            times = self._recent(key, now) or deque(maxlen=self._limit(key))
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)
