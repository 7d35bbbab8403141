"""Locating a page of the newest-first request log from the hourly counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.analytics.request_log import PageWindow, page_window

H1 = int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp())  # h1 is 10:00, h2 11:00, ...
HOURS = [(H1 + 3 * 3600, 5), (H1 + 2 * 3600, 1), (H1 + 3600, 3), (H1, 2)]  # h4..h1, newest first


def at(hour: int) -> str:
    """The start of hour ``h<hour>`` as a DateTime64 parameter."""
    return f"2026-03-01 {9 + hour:02d}:00:00.000"


# Rows 0-4 in h4, row 5 in h3, rows 6-8 in h2, rows 9-10 in h1.
@pytest.mark.parametrize(("offset", "limit", "expected"), [
    (0, 3, PageWindow(at(4), at(5), 0)),  # inside the newest hour
    (3, 3, PageWindow(at(3), at(5), 3)),  # the newest hour's last 2 rows, then h3's only row
    (4, 3, PageWindow(at(2), at(5), 4)),  # the newest hour's last row, h3's row, 1 row of h2
    (4, 1, PageWindow(at(4), at(5), 4)),  # exactly the newest hour's last row
    (5, 1, PageWindow(at(3), at(4), 0)),  # exactly h3's only row
    (6, 10, PageWindow(at(1), at(3), 0)),  # the last page runs to the oldest hour
    (10, 3, PageWindow(at(1), at(2), 1)),  # the oldest hour's last row only
])
def test_window_covers_the_hours_of_the_page(offset: int, limit: int, expected: PageWindow) -> None:
    assert page_window(HOURS, offset, limit) == expected


def test_past_the_last_row_there_is_no_window() -> None:
    assert page_window(HOURS, 11, 3) is None
    assert page_window(HOURS, 12, 3) is None
    assert page_window([], 0, 20) is None
