"""Query-string parsing for the analytics endpoints: every bad value is a 400 that names its parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import QueryParams

from gateway.errors import ApiError

TIMEFRAMES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
BREAKDOWN_DAYS = (7, 14, 30)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
EXPORT_FORMATS = ("csv", "json")
MAX_EXPORT_RANGE = timedelta(days=92)
# Inside ClickHouse's DateTime64 range (1900-01-01 .. 2299-12-31), with room for time-zone shifts.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
DEFAULT_EXPORT_RANGE = timedelta(days=7)
MAX_MODEL_LENGTH = 200


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, {"parameter": parameter})


def timeframe(query: QueryParams) -> tuple[str, timedelta]:
    value = query.get("timeframe", "24h")
    if value not in TIMEFRAMES:
        raise invalid("timeframe", f"timeframe must be one of {', '.join(TIMEFRAMES)}; got {value!r}")
    return value, TIMEFRAMES[value]


def breakdown_days(query: QueryParams) -> int:
    value = query.get("days", "7")
    if value not in {str(d) for d in BREAKDOWN_DAYS}:
        allowed = ", ".join(str(d) for d in BREAKDOWN_DAYS)
        raise invalid("days", f"days must be one of {allowed}; got {value!r}")
    return int(value)


def timezone(query: QueryParams) -> ZoneInfo:
    value = query.get("tz", "UTC")
    try:
        if not value or value.startswith(("/", ".")) or ".." in value:
            raise ValueError(value)
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid("tz", f"tz must be an IANA time zone such as America/New_York; got {value!r}") from None


def _bounded_int(query: QueryParams, name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
        raise invalid(name, f"{name} must be an integer from {low} to {high}; got {value!r}")
    return int(value)


def page(query: QueryParams) -> int:
    return _bounded_int(query, "page", 1, 1, MAX_PAGE)


def page_size(query: QueryParams) -> int:
    return _bounded_int(query, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)


def model(query: QueryParams) -> str | None:
    """An exact routed-model name to filter on; absent or empty means every model."""
    value = query.get("model") or None
    if value is not None and len(value) > MAX_MODEL_LENGTH:
        raise invalid("model", f"model must be at most {MAX_MODEL_LENGTH} characters")
    return value


def export_format(query: QueryParams) -> str:
    value = query.get("format", "csv")
    if value not in EXPORT_FORMATS:
        raise invalid("format", f"format must be one of {', '.join(EXPORT_FORMATS)}; got {value!r}")
    return value


@dataclass(frozen=True)
class ExportRange:
    """``[start, end)`` in UTC, plus the labels used in the download's file name."""

    start: datetime
    end: datetime
    from_label: str
    to_label: str


def _instant(name: str, value: str, tz: ZoneInfo, end_of_day: bool) -> tuple[datetime, str]:
    """An ISO date (a whole day in ``tz``) or datetime (naive means ``tz``) and its file-name label."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if not EARLIEST.date() <= day < LATEST.date():
                raise OverflowError
            moment = datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(), tzinfo=tz)
            return moment.astimezone(UTC), day.isoformat()
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        moment = moment.astimezone(UTC)
    except ValueError:
        raise invalid(name, f"{name} must be an ISO 8601 date or datetime; got {value!r}") from None
    except OverflowError:
        moment = LATEST  # a date at the very end of the calendar: reported as out of range below
    if not EARLIEST <= moment < LATEST:
        raise invalid(name, f"{name} must lie between {EARLIEST.year} and {LATEST.year - 1}; got {value!r}")
    return moment, moment.strftime("%Y%m%dT%H%M%SZ")


def export_range(query: QueryParams, now: datetime, tz: ZoneInfo) -> ExportRange:
    """``from`` (inclusive) and ``to`` (exclusive; a date ``to`` includes that whole day).

    Defaults: the 7 days up to ``now``. At most 92 days.
    """
    raw_from, raw_to = query.get("from"), query.get("to")
    if raw_to:
        end, to_label = _instant("to", raw_to, tz, end_of_day=True)
    else:
        end, to_label = now, now.astimezone(tz).date().isoformat()
    if raw_from:
        start, from_label = _instant("from", raw_from, tz, end_of_day=False)
    else:
        start = end - DEFAULT_EXPORT_RANGE
        from_label = start.astimezone(tz).date().isoformat()
    if start >= end:
        raise invalid("from", "from must be earlier than to")
    if end - start > MAX_EXPORT_RANGE:
        limit = MAX_EXPORT_RANGE.days
        message = f"from and to may be at most {limit} days apart; split the export into several ranges"
        raise invalid("from" if raw_from else "to", message)
    return ExportRange(start, end, from_label, to_label)
