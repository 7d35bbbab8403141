"""Helpers for the analytics tests: known usage events written straight into the gateway's ClickHouse,
and a brute-force reference that recomputes every figure from those events in Python."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from consumers.rows import INSERT_SETTINGS, normalised_row
from schemas import UsageEvent
from tests.conftest import RunningGateway

MODELS = [("gpt-4o-mini", "openai"), ("claude-3-5-haiku", "anthropic"), ("gemini-2.0-flash", "google"),
          ("gpt-4o", "openai")]


def event(user_id: str | uuid.UUID, at: datetime, i: int, **fields: Any) -> UsageEvent:
    """A deterministic, varied event: model, status, cache hit, tokens and a 9-decimal cost from ``i``."""
    model, provider = MODELS[i % len(MODELS)]
    failed = i % 7 == 3
    values: dict[str, Any] = {
        "request_id": f"req-{uuid.uuid4().hex}",
        "user_id": uuid.UUID(str(user_id)),
        "received_at": at,
        "finished_at": at + timedelta(milliseconds=100 + i % 900),
        "requested_model": "auto",
        "routed_model": model,
        "provider": provider,
        "complexity": ("simple", "moderate", "complex")[i % 3],
        "stream": i % 2 == 0,
        "status": "error" if failed else "ok",
        "error_code": "upstream_error" if failed else "",
        "http_status": 502 if failed else 200,
        "input_tokens": 10 + i * 37 % 5000,
        "output_tokens": 0 if failed else 5 + i * 13 % 900,
        "cost_usd": Decimal(0) if failed else Decimal((1 + i * 7919 % 9_999_999) * (i % 5 + 1)) / 10**9,
        "latency_ms": float(100 + i % 900),  # whole milliseconds: float sums are exact
        "cache_hit": i % 5 == 0,
        "user_agent": "OpenAI/Python 1.99.0",
    }
    values.update(fields)
    return UsageEvent(**values)


def unrouted_event(user_id: str | uuid.UUID, at: datetime, i: int) -> UsageEvent:
    """A request refused before any model was chosen: no model, provider, tokens or cost."""
    limited = i % 2 == 0
    return event(
        user_id, at, i, routed_model="", provider="", complexity="",
        status="rate_limited" if limited else "error",
        error_code="rate_limited" if limited else "invalid_request",
        http_status=429 if limited else 400, input_tokens=0, output_tokens=0, cost_usd=Decimal(0),
    )


def insert(gateway: RunningGateway, events: list[UsageEvent]) -> None:
    """Write ``events`` as the loader does (one JSONEachRow insert; the rollup view sees it too)."""
    data = b"".join(normalised_row(e, 0, i) for i, e in enumerate(events))
    gateway.call(gateway.state.clickhouse.insert_raw("usage_events", data, "JSONEachRow", INSERT_SETTINGS))


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Expected:
    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_sum: float = 0.0


def totals(events: list[UsageEvent], start: datetime, end: datetime) -> Expected:
    result = Expected()
    for e in events:
        if start <= e.received_at < end:
            result.requests += 1
            result.errors += e.status != "ok"
            result.cache_hits += e.cache_hit
            result.input_tokens += e.input_tokens
            result.output_tokens += e.output_tokens
            result.cost += e.cost_usd
            result.latency_sum += e.latency_ms
    return result


def expected_overview(events: list[UsageEvent], body: dict[str, Any]) -> dict[str, Any]:
    period, previous = body["period"], body["previous_period"]
    cur = totals(events, parse_ts(period["from"]), parse_ts(period["to"]))
    prev = totals(events, parse_ts(previous["from"]), parse_ts(previous["to"]))
    change = None
    if prev.cost:
        change = float(((cur.cost - prev.cost) * 100 / prev.cost).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return {
        "total_cost": cur.cost,
        "total_requests": cur.requests,
        "error_count": cur.errors,
        "avg_latency_ms": round(cur.latency_sum / cur.requests, 2) if cur.requests else 0.0,
        "cache_hit_rate": round(cur.cache_hits / cur.requests, 4) if cur.requests else 0.0,
        "tokens_used": {"input": cur.input_tokens, "output": cur.output_tokens},
        "previous_cost": prev.cost,
        "cost_change_percent": change,
    }


def expected_breakdown(events: list[UsageEvent], body: dict[str, Any]) -> list[dict[str, Any]]:
    tz = ZoneInfo(body["timezone"])
    start, end = parse_ts(body["period"]["from"]), parse_ts(body["period"]["to"])
    first = start.astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range(body["days"])]
    per_day: dict[str, Expected] = {d.isoformat(): Expected() for d in days}
    for e in events:
        if start <= e.received_at < end:
            day = per_day[e.received_at.astimezone(tz).date().isoformat()]
            day.requests += 1
            day.input_tokens += e.input_tokens
            day.output_tokens += e.output_tokens
            day.cost += e.cost_usd
    return [
        {"date": d, "cost": t.cost, "requests": t.requests, "input_tokens": t.input_tokens,
         "output_tokens": t.output_tokens}
        for d, t in per_day.items()
    ]


def expected_distribution(events: list[UsageEvent], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Per routed model: requests refused before routing (empty ``routed_model``) are not in it."""
    start, end = parse_ts(body["period"]["from"]), parse_ts(body["period"]["to"])
    groups: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for e in events:
        if start <= e.received_at < end and e.routed_model:
            groups[(e.routed_model, e.provider)][0] += 1
            groups[(e.routed_model, e.provider)][1] += e.cost_usd
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1]))
    return [{"model": m, "provider": p, "requests": n, "cost": c} for (m, p), (n, c) in ordered]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
