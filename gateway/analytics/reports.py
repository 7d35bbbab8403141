"""The dashboard reports: overview, daily cost breakdown and model distribution, as JSON-ready dicts.

Each takes ``now`` explicitly so the same instant bounds every part of a report (and tests and the
benchmark can pin it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from gateway.analytics.aggregates import Totals, grouped_totals, per_bucket
from gateway.analytics.money import money, percent, shares
from gateway.analytics.periods import calendar_days, iso_ms, truncate_ms, window_plan

if TYPE_CHECKING:
    from gateway.clickhouse import ClickHouse


def _period(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": iso_ms(start), "to": iso_ms(end)}


async def overview(ch: ClickHouse, user_id: UUID, span: timedelta, now: datetime) -> dict[str, Any]:
    """Totals for ``[now - span, now)`` and the cost change against the ``span`` before it."""
    plan = window_plan(truncate_ms(now), span, periods=2)
    previous, current = per_bucket(await grouped_totals(ch, user_id, plan), 2)
    return {
        "period": _period(plan.boundaries[1], plan.boundaries[2]),
        "previous_period": _period(plan.boundaries[0], plan.boundaries[1]),
        "total_cost": money(current.cost),
        "total_requests": current.requests,
        "error_count": current.errors,
        "avg_latency_ms": round(current.latency_ms_sum / current.requests, 2) if current.requests else 0.0,
        "cache_hit_rate": round(current.cache_hits / current.requests, 4) if current.requests else 0.0,
        "tokens_used": {"input": current.input_tokens, "output": current.output_tokens},
        "previous_cost": money(previous.cost),
        "cost_change_percent": _change(current.cost, previous.cost),
    }


def _change(current: Decimal, previous: Decimal) -> float | None:
    """Percent change of cost; None when the previous period had no cost (no meaningful base)."""
    return percent(current - previous, previous) if previous else None


def _day_entry(totals: Totals) -> dict[str, Any]:
    return {
        "cost": money(totals.cost),
        "requests": totals.requests,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
    }


async def cost_breakdown(
    ch: ClickHouse, user_id: UUID, days: int, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    """One entry per calendar day in ``tz`` (today up to ``now`` included), oldest first, zeros kept."""
    dates, plan = calendar_days(truncate_ms(now), days, tz)
    buckets = per_bucket(await grouped_totals(ch, user_id, plan), len(dates))
    overall = Totals()
    for totals in buckets:
        overall.add(totals)
    return {
        "days": days,
        "timezone": tz.key,
        "period": _period(plan.start, plan.end),
        "data": [{"date": d.isoformat(), **_day_entry(t)} for d, t in zip(dates, buckets, strict=True)],
        "totals": _day_entry(overall),
    }


async def model_distribution(
    ch: ClickHouse, user_id: UUID, span: timedelta, now: datetime
) -> dict[str, Any]:
    """Requests and cost per (routed model, provider) in ``[now - span, now)``, most requests first.

    Requests refused before a model was chosen (invalid request, unknown model or no route, the
    gateway's own rate limit) carry an empty model and are left out, so the shares are of routed
    requests; the overview still counts them.
    """
    plan = window_plan(truncate_ms(now), span)
    groups = sorted(
        (g for g in await grouped_totals(ch, user_id, plan) if g.totals.requests and g.model),
        key=lambda g: (-g.totals.requests, g.model, g.provider),
    )
    percentages = shares([g.totals.requests for g in groups])
    return {
        "period": _period(plan.start, plan.end),
        "total_requests": sum(g.totals.requests for g in groups),
        "data": [
            {
                "model": g.model,
                "provider": g.provider,
                "requests": g.totals.requests,
                "percentage": share,
                "cost": money(g.totals.cost),
            }
            for g, share in zip(groups, percentages, strict=True)
        ],
    }
