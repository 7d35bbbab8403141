-- Hourly rollup per user x model, maintained by a materialized view on every insert into usage_events.
-- Dashboards aggregate it with plain sum()/quantilesMerge() and GROUP BY, so no FINAL is ever needed.
-- Inserts deduplicated by token in usage_events are deduplicated here too
-- (the loader inserts with deduplicate_blocks_in_dependent_materialized_views = 1; tested).
CREATE TABLE IF NOT EXISTS {database}.usage_hourly
(
    user_id             UUID,
    hour                DateTime('UTC'),
    routed_model        LowCardinality(String),
    provider            LowCardinality(String),
    requests            SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    cache_hits          SimpleAggregateFunction(sum, UInt64),
    input_tokens        SimpleAggregateFunction(sum, UInt64),
    cached_input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens       SimpleAggregateFunction(sum, UInt64),
    cost_usd            SimpleAggregateFunction(sum, Decimal(38, 9)),
    latency_ms_sum      SimpleAggregateFunction(sum, Float64),
    latency_quantiles   AggregateFunction(quantiles(0.5, 0.95, 0.99), Float32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (user_id, hour, routed_model, provider)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_hourly_mv TO {database}.usage_hourly AS
SELECT
    user_id,
    toStartOfHour(received_at) AS hour,
    routed_model,
    provider,
    count() AS requests,
    countIf(status != 'ok') AS errors,
    countIf(cache_hit) AS cache_hits,
    sum(toUInt64(input_tokens)) AS input_tokens,
    sum(toUInt64(cached_input_tokens)) AS cached_input_tokens,
    sum(toUInt64(output_tokens)) AS output_tokens,
    sum(toDecimal128(cost_usd, 9)) AS cost_usd,
    sum(toFloat64(latency_ms)) AS latency_ms_sum,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_quantiles
FROM {database}.usage_events
GROUP BY user_id, hour, routed_model, provider;
