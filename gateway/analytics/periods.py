"""Period arithmetic: windows, calendar-day boundaries in a time zone, and which hours need raw data.

Aggregates come from the hourly rollup for every whole hour that lies inside one bucket, and from the
raw events only for the hours that a bucket boundary cuts (the window's partial edge hours, the edge
between the current and the previous period, a local midnight of a zone with a non-whole-hour offset).
That keeps every number exact at any ``now`` while reading at most a few hours of raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def truncate_ms(moment: datetime) -> datetime:
    """``moment`` in UTC at the millisecond precision of ``created_at``."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso_ms(moment: datetime) -> str:
    """``2026-12-01T10:00:00.123Z``: the one timestamp format every endpoint returns."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sql_ms(moment: datetime) -> str:
    """The literal a ``DateTime64(3, 'UTC')`` query parameter expects."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def sql_seconds(moment: datetime) -> str:
    """The literal a ``DateTime('UTC')`` query parameter expects."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class BucketPlan:
    """Consecutive buckets ``[boundaries[i], boundaries[i+1])`` and how to read them exactly."""

    boundaries: tuple[datetime, ...]

    def __post_init__(self) -> None:
        pairs = zip(self.boundaries, self.boundaries[1:], strict=False)
        if len(self.boundaries) < 2 or any(a > b for a, b in pairs) or self.start >= self.end:
            raise ValueError("boundaries must be at least two non-decreasing instants, start < end")

    @property
    def start(self) -> datetime:
        return self.boundaries[0]

    @property
    def end(self) -> datetime:
        return self.boundaries[-1]

    @property
    def inner_boundaries(self) -> tuple[datetime, ...]:
        """The instants where one bucket ends and the next begins."""
        return self.boundaries[1:-1]

    @property
    def rollup_from(self) -> datetime:
        return ceil_hour(self.start)

    @property
    def rollup_to(self) -> datetime:
        return floor_hour(self.end)

    @property
    def split_hours(self) -> tuple[datetime, ...]:
        """Hours cut by a boundary: read from raw events, skipped in the rollup."""
        return tuple(sorted({floor_hour(b) for b in self.boundaries if floor_hour(b) != b}))


def window_plan(end: datetime, span: timedelta, periods: int = 1) -> BucketPlan:
    """``periods`` consecutive windows of ``span`` ending at ``end``, oldest first."""
    return BucketPlan(tuple(end - span * (periods - i) for i in range(periods + 1)))


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def calendar_days(now: datetime, days: int, tz: ZoneInfo) -> tuple[list[date], BucketPlan]:
    """The last ``days`` calendar days in ``tz`` (today included, up to ``now``) and their buckets."""
    today = now.astimezone(tz).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    boundaries = [local_midnight(d, tz) for d in dates]
    return dates, BucketPlan((*boundaries, now))
