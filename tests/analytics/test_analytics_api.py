"""The analytics endpoints over HTTP, checked exactly against a brute-force recomputation."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from gateway.analytics.periods import floor_hour
from schemas import UsageEvent
from tests.analytics.conftest import event as make_event
from tests.analytics.conftest import (
    expected_breakdown,
    expected_distribution,
    expected_overview,
    insert,
    unrouted_event,
)
from tests.conftest import Account, RunningGateway, new_account

Seeded = tuple[Account, list[UsageEvent]]
ENDPOINTS = ["overview", "cost-breakdown", "model-distribution", "requests", "export"]


def exact(response: httpx.Response) -> dict[str, Any]:
    """The body with every JSON number that has a fraction parsed as a Decimal (money stays exact)."""
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def boundary_events(user_id: str, now: datetime) -> list[UsageEvent]:
    """Events just inside and outside every window edge, in whole hours, around local midnights."""
    minute = timedelta(minutes=1)
    offsets = [minute, 30 * minute]
    for span in (timedelta(hours=24), timedelta(days=7), timedelta(days=30)):
        for edge in (span, 2 * span):
            offsets += [edge - minute, edge + minute]
    offsets += [timedelta(hours=h, minutes=h * 7 % 60) for h in range(1, 62 * 24, 5)]  # whole hours
    moments = [now - o for o in offsets]
    today = now.date()
    for days_back in range(0, 32):
        day = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=days_back)
        for local_midnight in (day, day + timedelta(hours=5), day - timedelta(hours=5, minutes=30)):
            moments += [local_midnight - minute, local_midnight + minute]
    moments = [m for m in moments if m < now - timedelta(seconds=30)]
    routed = [make_event(user_id, m, i) for i, m in enumerate(moments)]
    # Every fourth moment also has a request refused before routing, 7 s earlier (no timestamp ties).
    unrouted = [unrouted_event(user_id, m - timedelta(seconds=7), i) for i, m in enumerate(moments[::4])]
    return routed + unrouted


@pytest.fixture(scope="module")
def seeded(gateway: RunningGateway) -> Seeded:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        account = new_account(client)
    events = boundary_events(account.user_id, datetime.now(UTC))
    insert(gateway, events)
    return account, events


@pytest.mark.parametrize("timeframe", ["24h", "7d", "30d"])
def test_overview_equals_the_brute_force_totals(api: httpx.Client, seeded: Seeded, timeframe: str) -> None:
    account, events = seeded
    body = exact(api.get("/api/analytics/overview", params={"timeframe": timeframe}, headers=account.auth))
    expected = expected_overview(events, body)
    assert expected["total_requests"] > 0 and expected["previous_cost"] > 0
    assert body["timeframe"] == timeframe
    for key in ("total_cost", "previous_cost", "total_requests", "error_count", "tokens_used"):
        assert body[key] == expected[key], key
    for key in ("avg_latency_ms", "cache_hit_rate", "cost_change_percent"):
        assert float(body[key]) == expected[key], key
    period = body["period"]
    assert datetime.fromisoformat(period["to"].replace("Z", "+00:00")) - datetime.fromisoformat(
        period["from"].replace("Z", "+00:00")) == {"24h": timedelta(hours=24), "7d": timedelta(days=7),
                                                   "30d": timedelta(days=30)}[timeframe]


def test_overview_defaults_to_24h(api: httpx.Client, seeded: Seeded) -> None:
    account, _ = seeded
    assert api.get("/api/analytics/overview", headers=account.auth).json()["timeframe"] == "24h"


@pytest.mark.parametrize("days", [7, 14, 30])
@pytest.mark.parametrize("tz", [None, "America/New_York", "Asia/Kolkata"])
def test_cost_breakdown_equals_the_brute_force_days(
    api: httpx.Client, seeded: Seeded, days: int, tz: str | None
) -> None:
    account, events = seeded
    query: dict[str, Any] = {"days": days, **({"tz": tz} if tz else {})}
    body = exact(api.get("/api/analytics/cost-breakdown", params=query, headers=account.auth))
    assert body["timezone"] == (tz or "UTC")
    expected = expected_breakdown(events, body)
    assert len(body["data"]) == days
    assert body["data"] == expected
    assert body["totals"] == {
        "cost": sum((d["cost"] for d in expected), Decimal(0)),
        "requests": sum(d["requests"] for d in expected),
        "input_tokens": sum(d["input_tokens"] for d in expected),
        "output_tokens": sum(d["output_tokens"] for d in expected),
    }
    assert sum(1 for d in expected if d["requests"]) >= days - 1


def test_days_differ_between_zones(api: httpx.Client, seeded: Seeded) -> None:
    account, _ = seeded
    by_zone = {
        tz: exact(api.get("/api/analytics/cost-breakdown", params={"tz": tz}, headers=account.auth))["data"]
        for tz in ("UTC", "America/New_York", "Asia/Kolkata")
    }
    assert by_zone["UTC"] != by_zone["America/New_York"] != by_zone["Asia/Kolkata"]


@pytest.mark.parametrize("timeframe", ["24h", "7d", "30d"])
def test_model_distribution_equals_the_brute_force_groups(
    api: httpx.Client, seeded: Seeded, timeframe: str
) -> None:
    account, events = seeded
    body = exact(api.get("/api/analytics/model-distribution", params={"timeframe": timeframe},
                         headers=account.auth))
    expected = expected_distribution(events, body)
    assert len(expected) >= 3
    assert [{k: v for k, v in row.items() if k != "percentage"} for row in body["data"]] == expected
    total = sum(row["requests"] for row in expected)
    assert body["total_requests"] == total
    assert sum(row["percentage"] for row in body["data"]) == Decimal(100)
    for row in body["data"]:
        assert abs(float(row["percentage"]) - 100 * row["requests"] / total) < 0.01
    assert all(row["model"] and row["provider"] for row in body["data"])


@pytest.mark.parametrize("timeframe", ["24h", "7d", "30d"])
def test_unrouted_requests_count_in_the_overview_but_not_in_the_distribution(
    api: httpx.Client, seeded: Seeded, timeframe: str
) -> None:
    account, events = seeded
    query, auth = {"timeframe": timeframe}, account.auth
    overview = exact(api.get("/api/analytics/overview", params=query, headers=auth))
    distribution = exact(api.get("/api/analytics/model-distribution", params=query, headers=auth))
    start = datetime.fromisoformat(overview["period"]["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(overview["period"]["to"].replace("Z", "+00:00"))
    inside = [e for e in events if start <= e.received_at < end]
    unrouted = sum(not e.routed_model for e in inside)
    assert unrouted > 0
    assert overview["total_requests"] == len(inside)
    assert distribution["total_requests"] == len(inside) - unrouted
    assert overview["error_count"] == sum(e.status != "ok" for e in inside)


def test_requests_pages_are_newest_first_and_cover_every_row_once(
    api: httpx.Client, seeded: Seeded
) -> None:
    account, events = seeded
    newest_first = sorted(events, key=lambda e: e.received_at, reverse=True)
    seen: list[dict[str, Any]] = []
    page = 1
    while True:
        body = exact(api.get("/api/analytics/requests", params={"page": page, "limit": 100},
                             headers=account.auth))
        assert body["pagination"] == {"page": page, "limit": 100, "total": len(events),
                                      "pages": -(-len(events) // 100)}
        if not body["data"]:
            break
        seen += body["data"]
        page += 1
    assert [r["id"] for r in seen] == [e.request_id for e in newest_first]
    first, source = seen[0], newest_first[0]
    assert first == {
        "id": source.request_id,
        "created_at": source.received_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{source.received_at.microsecond // 1000:03d}Z",
        "model": source.routed_model, "requested_model": "auto", "provider": source.provider,
        "complexity": source.complexity, "status": source.status,
        "input_tokens": source.input_tokens, "output_tokens": source.output_tokens,
        "cost_usd": source.cost_usd, "latency_ms": Decimal(str(source.latency_ms)),
        "cache_hit": source.cache_hit, "stream": source.stream,
    }


def test_requests_default_page_and_exact_model_filter(api: httpx.Client, seeded: Seeded) -> None:
    account, events = seeded
    body = api.get("/api/analytics/requests", headers=account.auth).json()
    assert body["pagination"]["page"] == 1 and body["pagination"]["limit"] == 20 and len(body["data"]) == 20
    only = api.get("/api/analytics/requests", params={"model": "gpt-4o", "limit": 100},
                   headers=account.auth).json()
    assert only["pagination"]["total"] == sum(e.routed_model == "gpt-4o" for e in events)
    assert {r["model"] for r in only["data"]} == {"gpt-4o"}  # not gpt-4o-mini: the filter is exact


def test_requests_with_identical_timestamps_page_without_gaps_or_repeats(
    gateway: RunningGateway, api: httpx.Client
) -> None:
    account = new_account(api)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    events = [make_event(account.user_id, at, i) for i in range(11)]
    insert(gateway, events)
    ids = []
    for page in (1, 2, 3, 4):
        query = {"page": page, "limit": 3}
        body = api.get("/api/analytics/requests", params=query, headers=account.auth).json()
        ids += [r["id"] for r in body["data"]]
    assert sorted(ids) == sorted(e.request_id for e in events) and len(ids) == 11


def test_export_csv_round_trips_through_the_csv_module(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    now = datetime.now(UTC)
    tricky = 'Mozilla/5.0 (X11; "quoted", comma)\nsecond line'
    events = [
        make_event(account.user_id, now - timedelta(hours=i + 1), i, user_agent=tricky) for i in range(5)
    ]
    events.append(make_event(account.user_id, now - timedelta(days=10), 99))  # outside the default 7 days
    insert(gateway, events)

    response = api.get("/api/analytics/export", headers=account.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    today, week_ago = now.date().isoformat(), (now - timedelta(days=7)).date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="switchyard-usage-{week_ago}-{today}.csv"'
    )
    records = list(csv.DictReader(io.StringIO(response.text, newline="")))
    inside = sorted(events[:5], key=lambda e: e.received_at)
    assert [r["id"] for r in records] == [e.request_id for e in inside]
    for record, source in zip(records, inside, strict=True):
        assert record["user_agent"] == tricky
        assert Decimal(record["cost_usd"]) == source.cost_usd
        assert record["model"] == source.routed_model
        assert record["cache_hit"] == ("true" if source.cache_hit else "false")
        assert int(record["input_tokens"]) == source.input_tokens


def test_export_json_is_an_array_with_exact_costs_and_honours_the_range(
    gateway: RunningGateway, api: httpx.Client
) -> None:
    account = new_account(api)
    base = floor_hour(datetime.now(UTC)) - timedelta(days=3)
    events = [make_event(account.user_id, base + timedelta(minutes=17 * i), i) for i in range(40)]
    insert(gateway, events)
    start, end = base + timedelta(hours=2), base + timedelta(hours=8)
    response = api.get("/api/analytics/export", headers=account.auth, params={
        "format": "json", "from": start.isoformat(), "to": end.isoformat().replace("+00:00", "Z"),
        "model": "gpt-4o-mini",
    })
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('.json"')
    rows = json.loads(response.text, parse_float=Decimal)
    expected = [e for e in events if start <= e.received_at < end and e.routed_model == "gpt-4o-mini"]
    assert len(expected) >= 3
    assert [r["id"] for r in rows] == [e.request_id for e in expected]
    assert [r["cost_usd"] for r in rows] == [e.cost_usd for e in expected]
    empty = api.get("/api/analytics/export", headers=account.auth,
                    params={"format": "json", "from": "2020-01-01", "to": "2020-01-02"})
    assert empty.json() == []


def test_users_see_only_their_own_data(api: httpx.Client, seeded: Seeded) -> None:
    owner, _ = seeded
    other = new_account(api)
    assert api.get("/api/analytics/overview", params={"timeframe": "30d"},
                   headers=owner.auth).json()["total_requests"] > 0
    overview = api.get("/api/analytics/overview", params={"timeframe": "30d"}, headers=other.auth).json()
    assert overview["total_requests"] == 0 and overview["total_cost"] == 0
    assert overview["cost_change_percent"] is None
    breakdown = api.get("/api/analytics/cost-breakdown", params={"days": 30}, headers=other.auth).json()
    assert breakdown["totals"]["requests"] == 0 and len(breakdown["data"]) == 30
    assert api.get("/api/analytics/model-distribution", params={"timeframe": "30d"},
                   headers=other.auth).json()["data"] == []
    assert api.get("/api/analytics/requests", headers=other.auth).json()["pagination"]["total"] == 0
    export = api.get("/api/analytics/export", params={"format": "json"}, headers=other.auth)
    assert export.json() == []


BAD_VALUES = [
    ("overview", {"timeframe": "1y"}, "timeframe"),
    ("overview", {"timeframe": "24H"}, "timeframe"),
    ("model-distribution", {"timeframe": "90d"}, "timeframe"),
    ("cost-breakdown", {"days": "8"}, "days"),
    ("cost-breakdown", {"days": "abc"}, "days"),
    ("cost-breakdown", {"tz": "Not/AZone"}, "tz"),
    ("requests", {"page": "0"}, "page"),
    ("requests", {"page": "x"}, "page"),
    ("requests", {"limit": "1000"}, "limit"),
    ("requests", {"limit": "0"}, "limit"),
    ("export", {"format": "xml"}, "format"),
    ("export", {"from": "not-a-date"}, "from"),
    ("export", {"to": "2026-02-30"}, "to"),
    ("export", {"from": "2026-03-01", "to": "2026-02-01"}, "from"),
    ("export", {"from": "2025-01-01", "to": "2026-01-01"}, "from"),
    ("export", {"from": "0001-01-01", "to": "2026-01-02"}, "from"),
    ("export", {"to": "9999-12-31"}, "to"),
    ("export", {"tz": "Mars/Base"}, "tz"),
]


@pytest.mark.parametrize(("endpoint", "query", "parameter"), BAD_VALUES)
def test_invalid_parameters_are_400_naming_the_parameter(
    api: httpx.Client, seeded: Seeded, endpoint: str, query: dict[str, str], parameter: str
) -> None:
    account, _ = seeded
    response = api.get(f"/api/analytics/{endpoint}", params=query, headers=account.auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"] == {"parameter": parameter}
    assert parameter in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_missing_or_invalid_token_is_401(api: httpx.Client, endpoint: str, headers: dict[str, str]) -> None:
    response = api.get(f"/api/analytics/{endpoint}", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_request_through_the_gateway_shows_up_within_seconds(
    gateway: RunningGateway, api: httpx.Client
) -> None:
    account = new_account(api)
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello in French, please."}]
    )
    reply = raw.parse()
    deadline = time.monotonic() + 15
    overview: dict[str, Any] = {}
    page: dict[str, Any] = {}
    while time.monotonic() < deadline:
        overview = api.get("/api/analytics/overview", headers=account.auth).json()
        page = api.get("/api/analytics/requests", headers=account.auth).json()
        if overview["total_requests"] and page["data"]:
            break
        time.sleep(0.2)
    assert overview["total_requests"] == 1
    assert page["data"][0]["id"] == raw.headers["x-request-id"]
    assert page["data"][0]["model"] == reply.model
    assert page["data"][0]["cost_usd"] == reply.model_extra["gateway_metadata"]["cost_usd"]


def test_a_fresh_account_has_zero_overview_and_null_change(api: httpx.Client) -> None:
    account = new_account(api)
    body = api.get("/api/analytics/overview", headers=account.auth).json()
    assert body["total_requests"] == 0 and body["avg_latency_ms"] == 0.0 and body["cache_hit_rate"] == 0.0
    assert body["cost_change_percent"] is None
    assert uuid.UUID(account.user_id)


@pytest.mark.parametrize("model", [None, "gpt-4o-mini"])
def test_every_small_page_equals_the_brute_force_slice_across_hours(
    gateway: RunningGateway, api: httpx.Client, model: str | None
) -> None:
    """Pages found through the hourly rollup: rows on hour edges, ties, empty hours, pages spanning
    several hours, and the pages just past the end."""
    account = new_account(api)
    hour = floor_hour(datetime.now(UTC)) - timedelta(hours=30)
    moments = [hour + timedelta(hours=h) for h in (0, 0, 0, 1, 5, 5, 9)]  # exact hour starts, ties
    moments += [hour + timedelta(hours=h, minutes=59, seconds=59, milliseconds=999) for h in (0, 4, 5)]
    moments += [hour + timedelta(hours=12, minutes=m) for m in range(0, 60, 4)]  # one busy hour
    events = [make_event(account.user_id, at, i) for i, at in enumerate(moments)]
    insert(gateway, events)
    chosen = [e for e in events if model is None or e.routed_model == model]
    newest_first = sorted(chosen, key=lambda e: (e.received_at, e.event_id.int & (2**64 - 1),
                                                 e.event_id.int >> 64), reverse=True)
    limit = 3
    pages = -(-len(chosen) // limit)
    for page in range(1, pages + 3):
        query = {"page": page, "limit": limit, **({"model": model} if model else {})}
        body = exact(api.get("/api/analytics/requests", params=query, headers=account.auth))
        expected = newest_first[(page - 1) * limit: page * limit]
        assert [r["id"] for r in body["data"]] == [e.request_id for e in expected], page
        assert body["pagination"] == {"page": page, "limit": limit, "total": len(chosen), "pages": pages}
