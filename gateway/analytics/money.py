"""Money in JSON: exact decimal text, never a float that went through binary rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import orjson


def money(value: Decimal | int | None) -> orjson.Fragment:
    """A JSON number with the exact digits of ``value`` (cost_usd has 9 decimals; trailing zeros
    dropped, never exponent notation), e.g. ``0.000123`` or ``12.5``."""
    amount = Decimal(value or 0)
    text = format(amount.normalize(), "f") if amount else "0"
    return orjson.Fragment(text)


def percent(part: Decimal | int, whole: Decimal | int) -> float:
    """``part / whole * 100`` rounded half away from zero to 2 decimals."""
    exact = Decimal(part) * 100 / Decimal(whole)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def shares(counts: list[int]) -> list[float]:
    """Percentages of ``counts`` to 2 decimals that sum to exactly 100 (largest-remainder method)."""
    total = sum(counts)
    if total == 0:
        return [0.0] * len(counts)
    basis_points = [c * 10_000 for c in counts]  # hundredths of a percent, still exact
    floors = [b // total for b in basis_points]
    leftover = 10_000 - sum(floors)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(basis_points[i] % total), i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return [f / 100 for f in floors]
