"""Locating a page of the newest-first request log from the hourly counts."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.analytics.request_log import PageWindow, page_window


def hours(*counts: int) -> list[dict[str, Any]]:
    """Newest first: hour h ends at h+1 o'clock."""
    return [{"hour_start": f"h{len(counts) - i}", "hour_end": f"h{len(counts) - i + 1}", "n": n}
            for i, n in enumerate(counts)]


# hours(5, 1, 3, 2): rows 0-4 in h4 (ends h5), row 5 in h3, rows 6-8 in h2, rows 9-10 in h1.
@pytest.mark.parametrize(("offset", "limit", "expected"), [
    (0, 3, PageWindow("h4", "h5", 0)),  # inside the newest hour
    (3, 3, PageWindow("h3", "h5", 3)),  # the newest hour's last 2 rows, then h3's only row
    (4, 3, PageWindow("h2", "h5", 4)),  # the newest hour's last row, h3's row, 1 row of h2
    (4, 1, PageWindow("h4", "h5", 4)),  # exactly the newest hour's last row
    (5, 1, PageWindow("h3", "h4", 0)),  # exactly h3's only row
    (6, 10, PageWindow("h1", "h3", 0)),  # the last page runs to the oldest hour
    (10, 3, PageWindow("h1", "h2", 1)),  # the oldest hour's last row only
])
def test_window_covers_the_hours_of_the_page(offset: int, limit: int, expected: PageWindow) -> None:
    assert page_window(hours(5, 1, 3, 2), offset, limit) == expected


def test_past_the_last_row_there_is_no_window() -> None:
    assert page_window(hours(5, 1, 3, 2), 11, 3) is None
    assert page_window(hours(5, 1, 3, 2), 12, 3) is None
    assert page_window([], 0, 20) is None
