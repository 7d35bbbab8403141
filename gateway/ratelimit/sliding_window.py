"""Sliding-window log: at most ``limit`` admitted requests in ANY rolling window of ``window_s``.

Each subject (a gateway key, a client IP) keeps the times of its admitted requests. A request at time
``now`` counts while ``now - t < window``; a new one is admitted only if fewer than ``limit`` still count.
Any window ``[s, s + window)`` therefore holds at most ``limit`` admissions: when the last one in it was
admitted, every earlier one in it was less than ``window`` old and counted.

``LUA_SLIDING_WINDOW`` checks several subjects at once (key and IP) in one atomic Redis call, one sorted
set of timestamps per subject taken from Redis's own ``TIME``, so every gateway process shares one clock
and one view; a request is recorded against all subjects or none. ``LocalSlidingWindow`` is the same
algorithm in process memory, used while Redis cannot be reached.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# KEYS: one sorted set per subject, scored in microseconds of Redis time. ARGV: member (unique per
# request), then limit_1, window_ms_1, limit_2, window_ms_2, ...
# Returns {allowed (0/1), retry_after_ms, remaining_1, reset_ms_1, remaining_2, reset_ms_2, ...}:
# reset_ms is the time until the subject's oldest counted request leaves its window (0: none counted).
LUA_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local retry = 0
local counts = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1]) * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', now - window))
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    allowed = 0
    if n > limit then
      redis.call('ZREMRANGEBYRANK', KEYS[i], 0, n - limit - 1)
      n = limit
    end
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local frees_in = tonumber(oldest[2]) + window - now
    if frees_in > retry then retry = frees_in end
  end
  counts[i] = n
end
local out = {allowed, math.ceil(retry / 1000)}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1]) * 1000
  local n = counts[i]
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], string.format('%d', now), ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
    n = n + 1
  end
  local reset = 0
  if n > 0 then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    reset = math.ceil((tonumber(oldest[2]) + window - now) / 1000)
  end
  local remaining = limit - n
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
"""


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` requests in any rolling ``window_s`` for the subject named ``key``."""

    key: str
    limit: int
    window_s: float = 60.0


@dataclass(frozen=True)
class SubjectState:
    limit: int
    remaining: int
    reset_s: float  # seconds until the oldest counted request leaves the window (one more slot frees)
    window_s: float = 60.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float
    subjects: tuple[SubjectState, ...]

    @classmethod
    def from_script(cls, reply: Sequence[int], limits: Sequence[Limit]) -> Verdict:
        subjects = tuple(
            SubjectState(limit.limit, int(reply[2 + 2 * i]), int(reply[3 + 2 * i]) / 1000, limit.window_s)
            for i, limit in enumerate(limits)
        )
        return cls(bool(reply[0]), int(reply[1]) / 1000, subjects)


class _Log:
    """One subject's admitted request times, oldest first."""

    __slots__ = ("times", "window_s")

    def __init__(self, window_s: float) -> None:
        self.times: deque[float] = deque()
        self.window_s = window_s

    def trim(self, now: float, limit: int | None = None) -> int:
        """Drop requests that left the window (and, given ``limit``, all but the newest ``limit``)."""
        times = self.times
        while times and now - times[0] >= self.window_s:
            times.popleft()
        while limit is not None and len(times) > limit:
            times.popleft()
        return len(times)

    def idle(self, now: float) -> bool:
        return not self.times or now - self.times[-1] >= self.window_s


class LocalSlidingWindow:
    """The Lua script's algorithm in process memory.

    Memory is bounded: at most ``limit`` times per subject, subjects idle for a whole window are dropped,
    and beyond ``max_subjects`` the least recently checked subject is dropped.
    """

    def __init__(self, max_subjects: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._logs: OrderedDict[str, _Log] = OrderedDict()
        self._max = max_subjects
        self._clock = clock

    def __len__(self) -> int:
        return len(self._logs)

    def check(self, limits: Sequence[Limit]) -> Verdict:
        now = self._clock()
        logs = [self._log(limit) for limit in limits]
        retry = 0.0
        allowed = True
        for limit, log in zip(limits, logs, strict=True):
            if log.trim(now, limit.limit) >= limit.limit:
                allowed = False
                retry = max(retry, log.times[0] + limit.window_s - now)
        subjects = []
        for limit, log in zip(limits, logs, strict=True):
            if allowed:
                log.times.append(now)
            reset = log.times[0] + limit.window_s - now if log.times else 0.0
            subjects.append(
                SubjectState(limit.limit, max(0, limit.limit - len(log.times)), reset, limit.window_s)
            )
        self._evict(now)
        return Verdict(allowed, retry, tuple(subjects))

    def _log(self, limit: Limit) -> _Log:
        log = self._logs.get(limit.key)
        if log is None:
            log = self._logs[limit.key] = _Log(limit.window_s)
        else:
            self._logs.move_to_end(limit.key)
            log.window_s = limit.window_s
        return log

    def _evict(self, now: float) -> None:
        """Drop idle subjects from the least recently checked end, then any beyond the cap."""
        logs = self._logs
        while logs:
            key, log = next(iter(logs.items()))
            if not log.idle(now):
                break
            del logs[key]
        while len(logs) > self._max:
            logs.popitem(last=False)


def window_phrase(window_s: float) -> str:
    """``per minute`` for the default window, ``per 2 s`` otherwise (for error messages)."""
    if window_s == 60:
        return "per minute"
    return f"per {window_s:g} s"
