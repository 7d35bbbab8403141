"""Exact per-bucket, per-model sums: the hourly rollup for whole hours, raw events for the cut hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from gateway.analytics.periods import BucketPlan, sql_ms, sql_seconds

if TYPE_CHECKING:
    from gateway.clickhouse import ClickHouse

# Both halves produce the same columns; `bucket` is the index of the bucket a row falls into.
AGGREGATE_SQL = """
SELECT bucket, routed_model, provider,
       sum(requests) AS requests, sum(errors) AS errors, sum(cache_hits) AS cache_hits,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd, sum(latency_ms_sum) AS latency_ms_sum
FROM (
    SELECT arrayCount(b -> b <= hour, {inner:Array(DateTime64(3, 'UTC'))}) AS bucket,
           routed_model, provider,
           toUInt64(requests) AS requests, toUInt64(errors) AS errors, toUInt64(cache_hits) AS cache_hits,
           toUInt64(input_tokens) AS input_tokens, toUInt64(output_tokens) AS output_tokens,
           toDecimal128(cost_usd, 9) AS cost_usd, toFloat64(latency_ms_sum) AS latency_ms_sum
    FROM {db:Identifier}.usage_hourly
    WHERE user_id = {user:UUID}
      AND hour >= {rollup_from:DateTime('UTC')} AND hour < {rollup_to:DateTime('UTC')}
      AND hour NOT IN {split:Array(DateTime('UTC'))}
    UNION ALL
    SELECT arrayCount(b -> b <= created_at, {inner:Array(DateTime64(3, 'UTC'))}) AS bucket,
           routed_model, provider,
           toUInt64(1), toUInt64(status != 'ok'), toUInt64(cache_hit),
           toUInt64(input_tokens), toUInt64(output_tokens),
           toDecimal128(cost_usd, 9), toFloat64(latency_ms)
    FROM {db:Identifier}.usage_events
    WHERE user_id = {user:UUID}
      AND created_at >= {start:DateTime64(3, 'UTC')} AND created_at < {end:DateTime64(3, 'UTC')}
      AND toStartOfHour(created_at) IN {split:Array(DateTime('UTC'))}
)
GROUP BY bucket, routed_model, provider
"""


@dataclass
class Totals:
    """Additive usage figures; money as an exact Decimal, latency as a sum for averaging."""

    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms_sum: float = 0.0

    def add(self, other: Totals) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.cache_hits += other.cache_hits
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost
        self.latency_ms_sum += other.latency_ms_sum


@dataclass(frozen=True)
class Group:
    bucket: int
    model: str
    provider: str
    totals: Totals


async def grouped_totals(ch: ClickHouse, user_id: UUID, plan: BucketPlan) -> list[Group]:
    """Sums per (bucket, routed model, provider) for one user; buckets without traffic are absent."""
    rows = await ch.query(AGGREGATE_SQL, {
        "db": ch.database,
        "user": str(user_id),
        "inner": [sql_ms(b) for b in plan.inner_boundaries],
        "rollup_from": sql_seconds(plan.rollup_from),
        "rollup_to": sql_seconds(plan.rollup_to),
        "split": [sql_seconds(h) for h in plan.split_hours],
        "start": sql_ms(plan.start),
        "end": sql_ms(plan.end),
    })
    return [
        Group(int(r["bucket"]), r["routed_model"], r["provider"], Totals(
            requests=int(r["requests"]), errors=int(r["errors"]), cache_hits=int(r["cache_hits"]),
            input_tokens=int(r["input_tokens"]), output_tokens=int(r["output_tokens"]),
            cost=Decimal(r["cost_usd"]), latency_ms_sum=float(r["latency_ms_sum"]),
        ))
        for r in rows
    ]


def per_bucket(groups: list[Group], buckets: int) -> list[Totals]:
    """Fold the per-model groups into one Totals per bucket (index 0 = oldest)."""
    result = [Totals() for _ in range(buckets)]
    for group in groups:
        result[group.bucket].add(group.totals)
    return result
