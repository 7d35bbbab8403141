"""Pure logic: period arithmetic, money and percentages, query-string validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson
import pytest
from starlette.datastructures import QueryParams

from gateway.analytics import params
from gateway.analytics.money import money, percent, shares
from gateway.analytics.periods import BucketPlan, calendar_days, iso_ms, window_plan
from gateway.errors import ApiError

NOW = datetime(2026, 12, 1, 10, 17, 23, 456000, tzinfo=UTC)


def test_a_window_reads_raw_rows_only_for_the_hours_its_boundaries_cut() -> None:
    plan = window_plan(NOW, timedelta(hours=24), periods=2)
    assert plan.boundaries == (NOW - timedelta(hours=48), NOW - timedelta(hours=24), NOW)
    assert plan.split_hours == (
        datetime(2026, 11, 29, 10, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC),
        datetime(2026, 12, 1, 10, tzinfo=UTC),
    )
    assert plan.rollup_from == datetime(2026, 11, 29, 11, tzinfo=UTC)
    assert plan.rollup_to == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_an_hour_aligned_window_needs_no_raw_rows() -> None:
    aligned = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert window_plan(aligned, timedelta(days=7), periods=2).split_hours == ()


def test_calendar_days_follow_the_zone_including_half_hour_offsets() -> None:
    dates, plan = calendar_days(NOW, 7, ZoneInfo("Asia/Kolkata"))
    assert dates[0] == date(2026, 11, 25) and dates[-1] == date(2026, 12, 1)
    assert plan.start == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)  # midnight in Kolkata
    assert plan.end == NOW
    assert datetime(2026, 11, 30, 18, tzinfo=UTC) in plan.split_hours  # 18:30 cuts that hour


def test_calendar_days_across_a_dst_change_have_23_and_25_hour_days() -> None:
    now = datetime(2026, 11, 3, 12, tzinfo=UTC)
    dates, plan = calendar_days(now, 7, ZoneInfo("America/New_York"))
    lengths = {d: b - a for d, a, b in zip(dates, plan.boundaries, plan.boundaries[1:], strict=False)}
    assert lengths[date(2026, 11, 1)] == timedelta(hours=25)  # clocks fall back that night
    assert lengths[date(2026, 10, 31)] == timedelta(hours=24)


def test_a_plan_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError):
        BucketPlan((NOW, NOW))


def test_money_is_exact_decimal_text() -> None:
    assert orjson.dumps({"c": money(Decimal("12.345678900"))}) == b'{"c":12.3456789}'
    assert orjson.dumps(money(Decimal("0E-9"))) == b"0"
    assert orjson.dumps(money(Decimal("1234567890.123456789"))) == b"1234567890.123456789"
    assert orjson.dumps(money(Decimal("100.000000000"))) == b"100"


def test_percent_rounds_half_away_from_zero() -> None:
    assert percent(Decimal("1"), Decimal("8")) == 12.5
    assert percent(Decimal("-1"), Decimal("3")) == -33.33
    assert percent(Decimal("1"), Decimal("0.0016")) == 62500.0
    assert percent(Decimal("0.00125"), Decimal("1")) == 0.13


@pytest.mark.parametrize("counts", [[1, 1, 1], [2, 1], [7], [5, 3, 3, 3, 1, 1, 1], [999_999, 1]])
def test_shares_sum_to_exactly_100_and_stay_within_a_hundredth(counts: list[int]) -> None:
    result = shares(counts)
    assert round(sum(result), 2) == 100.0
    for count, share in zip(counts, result, strict=True):
        assert abs(share - 100 * count / sum(counts)) < 0.01


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(NOW) == "2026-12-01T10:17:23.456Z"


def _q(**values: str) -> QueryParams:
    return QueryParams(values)


@pytest.mark.parametrize(("parse", "query", "parameter"), [
    (params.timeframe, {"timeframe": "1y"}, "timeframe"),
    (params.timeframe, {"timeframe": ""}, "timeframe"),
    (params.breakdown_days, {"days": "8"}, "days"),
    (params.breakdown_days, {"days": "07"}, "days"),
    (params.timezone, {"tz": "Mars/Olympus"}, "tz"),
    (params.timezone, {"tz": "../etc/passwd"}, "tz"),
    (params.page, {"page": "0"}, "page"),
    (params.page, {"page": "-1"}, "page"),
    (params.page, {"page": "1" * 5000}, "page"),
    (params.page_size, {"limit": "1000"}, "limit"),
    (params.page_size, {"limit": "ten"}, "limit"),
    (params.export_format, {"format": "xml"}, "format"),
])
def test_bad_values_name_their_parameter(
    parse: Callable[[QueryParams], object], query: dict[str, str], parameter: str
) -> None:
    with pytest.raises(ApiError) as caught:
        parse(_q(**query))
    assert caught.value.status == 400 and caught.value.code == "invalid_parameter"
    assert caught.value.details == {"parameter": parameter}
    assert parameter in caught.value.message


def test_export_range_defaults_to_the_last_seven_days() -> None:
    span = params.export_range(_q(), NOW, ZoneInfo("UTC"))
    assert (span.start, span.end) == (NOW - timedelta(days=7), NOW)
    assert (span.from_label, span.to_label) == ("2026-11-24", "2026-12-01")


def test_a_date_to_includes_that_whole_day_in_the_zone() -> None:
    query = _q(**{"from": "2026-11-01", "to": "2026-11-30"})
    span = params.export_range(query, NOW, ZoneInfo("Asia/Kolkata"))
    assert span.start == datetime(2026, 10, 31, 18, 30, tzinfo=UTC)
    assert span.end == datetime(2026, 11, 30, 18, 30, tzinfo=UTC)


def test_datetimes_are_accepted_with_z_offsets_or_naive() -> None:
    span = params.export_range(
        _q(**{"from": "2026-11-01T10:00:00Z", "to": "2026-11-02T10:00:00+01:00"}), NOW, ZoneInfo("UTC")
    )
    assert span.start == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert span.end == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert span.from_label == "20261101T100000Z"


@pytest.mark.parametrize(("query", "parameter"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-12-01", "to": "2026-11-01"}, "from"),
    ({"from": "2026-01-01", "to": "2026-12-01"}, "from"),
    ({"to": "0001-01-01T00:00:00+05:00"}, "to"),
])
def test_bad_export_ranges_are_rejected(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(ApiError) as caught:
        params.export_range(_q(**query), NOW, ZoneInfo("UTC"))
    assert caught.value.details == {"parameter": parameter}
