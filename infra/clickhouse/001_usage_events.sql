-- Raw usage events: one row per request the gateway answered. Append-only; never updated or deleted
-- (except by TTL), so queries never need FINAL. Exactly-once rows come from two guards:
--   * the loader inserts each Kafka partition batch once with insert_deduplication_token
--     'topic:partition:first-last'; a re-insert of the same batch after a crash or rebalance is dropped
--     by ClickHouse (non_replicated_deduplication_window keeps the last tokens on a single node;
--     ReplicatedMergeTree keeps them in Keeper);
--   * event_ids seen recently on a partition (restored from this table on start) are dropped, which
--     removes a producer re-send that landed at another offset.
-- Retention: set USAGE_TTL_DAYS and the schema step applies ALTER TABLE ... MODIFY TTL.
CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.usage_events
(
    event_id            UUID COMMENT 'UUIDv7 made by the gateway, the deduplication key',
    schema_version      UInt8,
    request_id          String COMMENT 'the id returned to the client (chat.completion id)',
    user_id             UUID,
    gateway_key_id      Nullable(UUID),
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)) COMMENT 'when the request was received',
    created_at          DateTime64(3, 'UTC') ALIAS received_at,
    first_token_at      Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    finished_at         DateTime64(3, 'UTC') CODEC(ZSTD(1)),
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
    cost_usd            Decimal(18, 9) CODEC(ZSTD(1)),
    latency_ms          Float32 CODEC(ZSTD(1)),
    ttft_ms             Nullable(Float32) CODEC(ZSTD(1)),
    cache_hit           Bool,
    attempts            Array(Tuple(model LowCardinality(String), provider LowCardinality(String), outcome LowCardinality(String), latency_ms Float32, http_status UInt16)),
    client_ip_hash      String CODEC(ZSTD(1)),
    user_agent          LowCardinality(String),
    kafka_partition     UInt16,
    kafka_offset        UInt64 CODEC(Delta, ZSTD(1)),
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    INDEX request_id_idx request_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX inserted_at_idx inserted_at TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (user_id, received_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
