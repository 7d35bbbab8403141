"""GCRA (generic cell rate algorithm): one stored timestamp per limited subject.

Each subject has a "theoretical arrival time" (TAT). A request advances it by ``period / limit``;
it is refused when that would push the TAT more than ``period`` ahead of now. This allows ``limit``
requests in a burst and then a steady ``limit`` per ``period``, with exact Retry-After values.

``LUA_GCRA`` checks several subjects at once (the gateway key and the client IP) in one atomic
Redis call using Redis's own clock, so every gateway process shares the same view; a request is
counted against all subjects or none. ``LocalGcra`` is the same arithmetic in process memory,
used when Redis cannot be reached.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# KEYS: one per subject. ARGV: limit_1, period_ms_1, limit_2, period_ms_2, ...
# Returns {allowed (0/1), retry_after_ms, remaining_1, reset_ms_1, remaining_2, reset_ms_2, ...}.
LUA_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local allowed = 1
local retry = 0
local tats = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local allow_at = tat + period / limit - period
  if now < allow_at then
    allowed = 0
    if allow_at - now > retry then retry = allow_at - now end
  end
end
local out = {allowed, math.ceil(retry)}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local interval = period / limit
  local tat = tats[i]
  if allowed == 1 then
    tat = tat + interval
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
  end
  local remaining = math.floor((period - (tat - now)) / interval + 1e-9)
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(tat - now)
end
return out
"""


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` requests per ``period_s`` for the subject named ``key``."""

    key: str
    limit: int
    period_s: float = 60.0


@dataclass(frozen=True)
class SubjectState:
    limit: int
    remaining: int
    reset_s: float  # seconds until the subject's full allowance is back


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float
    subjects: tuple[SubjectState, ...]

    @classmethod
    def from_script(cls, reply: Sequence[int], limits: Sequence[Limit]) -> Verdict:
        subjects = tuple(
            SubjectState(limit.limit, int(reply[2 + 2 * i]), int(reply[3 + 2 * i]) / 1000)
            for i, limit in enumerate(limits)
        )
        return cls(bool(reply[0]), int(reply[1]) / 1000, subjects)


class LocalGcra:
    """In-process GCRA with the Lua script's semantics; bounded memory (least recently used evicted)."""

    def __init__(self, max_subjects: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._max = max_subjects
        self._clock = clock

    def check(self, limits: Sequence[Limit]) -> Verdict:
        now = self._clock()
        tats = [max(self._tats.get(limit.key, now), now) for limit in limits]
        retry = 0.0
        for limit, tat in zip(limits, tats, strict=True):
            allow_at = tat + limit.period_s / limit.limit - limit.period_s
            if now < allow_at:
                retry = max(retry, allow_at - now)
        allowed = retry == 0.0
        subjects = []
        for limit, tat in zip(limits, tats, strict=True):
            interval = limit.period_s / limit.limit
            if allowed:
                tat += interval
                self._tats[limit.key] = tat
                self._tats.move_to_end(limit.key)
            remaining = max(0, math.floor((limit.period_s - (tat - now)) / interval + 1e-9))
            subjects.append(SubjectState(limit.limit, remaining, tat - now))
        while len(self._tats) > self._max:
            self._tats.popitem(last=False)
        return Verdict(allowed, retry, tuple(subjects))
