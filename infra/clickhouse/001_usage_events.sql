-- Raw usage events: one row per request the gateway answered. Append-only; deduplicated on insert
-- (insert_deduplication_token per consumer batch) and by event_id in the consumer, so no FINAL is needed.
CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.usage_events
(
    event_id            UUID,
    schema_version      UInt8,
    request_id          String,
    user_id             UUID,
    gateway_key_id      Nullable(UUID),
    created_at          DateTime64(3, 'UTC') COMMENT 'when the request was received',
    first_token_at      Nullable(DateTime64(3, 'UTC')),
    finished_at         DateTime64(3, 'UTC'),
    requested_model     LowCardinality(String),
    routed_model        LowCardinality(String),
    provider            LowCardinality(String),
    complexity          LowCardinality(String),
    stream              Bool,
    status              LowCardinality(String),
    error_code          LowCardinality(String),
    http_status         UInt16,
    input_tokens        UInt32 CODEC(T64, ZSTD(1)),
    cached_input_tokens UInt32 CODEC(T64, ZSTD(1)),
    cache_write_tokens  UInt32 CODEC(T64, ZSTD(1)),
    output_tokens       UInt32 CODEC(T64, ZSTD(1)),
    reasoning_tokens    UInt32 CODEC(T64, ZSTD(1)),
    cost_usd            Decimal(18, 9),
    latency_ms          Float32,
    ttft_ms             Nullable(Float32),
    cache_hit           Bool,
    attempts            Array(Tuple(model String, provider String, outcome String, latency_ms Float32, http_status UInt16)),
    client_ip_hash      String,
    user_agent          String,
    kafka_partition     UInt16,
    kafka_offset        UInt64,
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (user_id, created_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
