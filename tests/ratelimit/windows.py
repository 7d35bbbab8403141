"""Counting admissions per rolling window, for the rate-limit tests."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def most_in_any_window(times: Sequence[float], window: float) -> int:
    """The largest number of ``times`` inside any half-open window ``[s, s + window)``.

    The busiest such window starts at one of the times, so it is enough to count from each of them.
    """
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, start + window) - i for i, start in enumerate(ordered)), default=0
    )
