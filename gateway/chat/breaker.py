"""A per-provider circuit breaker: skip a provider that keeps failing, probe it again after a cool-down."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._circuits: dict[str, _Circuit] = {}

    def allows(self, provider: str, now: float | None = None) -> bool:
        """Closed: yes. Open: no, until the cool-down passes; then one probe request is let through."""
        circuit = self._circuits.get(provider)
        if circuit is None or circuit.opened_at is None:
            return True
        now = time.monotonic() if now is None else now
        if now - circuit.opened_at >= self.cooldown_s and not circuit.probing:
            circuit.probing = True
            return True
        return False

    def record_success(self, provider: str) -> None:
        self._circuits.pop(provider, None)

    def record_failure(self, provider: str, now: float | None = None) -> None:
        circuit = self._circuits.setdefault(provider, _Circuit())
        circuit.failures += 1
        if circuit.probing or circuit.failures >= self.failure_threshold:
            circuit.opened_at = time.monotonic() if now is None else now
            circuit.probing = False

    def state(self, provider: str) -> str:
        circuit = self._circuits.get(provider)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        return "half_open" if circuit.probing else "open"
