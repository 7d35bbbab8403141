"""Circuit breakers per upstream credential: skip one that keeps failing, probe it again after a cool-down.

A circuit belongs to a provider *and* the key used to call it (the operator's key, or one user's own
key), so one tenant's failing key or exhausted quota never switches a provider off for everyone else.

Looking at a circuit (``allows``) has no side effect; only an attempt that is actually made claims the
half-open probe (``begin``). The probe is a lease: if its outcome is never recorded (the caller went
away, the request was answered elsewhere), another probe is allowed one cool-down later, so a circuit
can never stay open for good.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

OPERATOR = ""  # the key owner of circuits that use the operator's provider keys


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probe_started_at: float | None = None


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._circuits: dict[tuple[str, str], _Circuit] = {}

    def allows(self, provider: str, owner: str = OPERATOR, now: float | None = None) -> bool:
        """Closed: yes. Open: no, until the cool-down passes; then while no live probe is in flight."""
        circuit = self._circuits.get((provider, owner))
        if circuit is None or circuit.opened_at is None:
            return True
        now = time.monotonic() if now is None else now
        if now - circuit.opened_at < self.cooldown_s:
            return False
        probe = circuit.probe_started_at
        return probe is None or now - probe >= self.cooldown_s

    def begin(self, provider: str, owner: str = OPERATOR, now: float | None = None) -> None:
        """An attempt is being made: on an open circuit it is the half-open probe."""
        circuit = self._circuits.get((provider, owner))
        if circuit is not None and circuit.opened_at is not None:
            circuit.probe_started_at = time.monotonic() if now is None else now

    def record_success(self, provider: str, owner: str = OPERATOR) -> None:
        self._circuits.pop((provider, owner), None)

    def record_failure(self, provider: str, owner: str = OPERATOR, now: float | None = None) -> None:
        circuit = self._circuits.setdefault((provider, owner), _Circuit())
        circuit.failures += 1
        if circuit.opened_at is not None or circuit.failures >= self.failure_threshold:
            circuit.opened_at = time.monotonic() if now is None else now  # (re)open: a new cool-down
            circuit.probe_started_at = None

    def state(self, provider: str, owner: str = OPERATOR, now: float | None = None) -> str:
        """``closed``, ``open`` (cooling down or waiting for a probe) or ``half_open`` (probe in flight)."""
        circuit = self._circuits.get((provider, owner))
        if circuit is None or circuit.opened_at is None:
            return "closed"
        now = time.monotonic() if now is None else now
        probe = circuit.probe_started_at
        return "half_open" if probe is not None and now - probe < self.cooldown_s else "open"
