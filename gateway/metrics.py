"""Prometheus metrics of one gateway process (served on /metrics)."""

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "switchyard_requests_total", "Chat requests answered", ["status", "model", "provider"]
)
REQUEST_SECONDS = Histogram("switchyard_request_seconds", "Chat request latency", ["stream"])
EVENTS_DELIVERED = Counter("switchyard_usage_events_delivered_total", "Usage events acknowledged by Kafka")
SPOOL_BYTES = Gauge("switchyard_usage_spool_bytes", "Bytes of usage events waiting in the disk spool")
SPOOL_DROPPED = Counter(
    "switchyard_usage_spool_dropped_total", "Usage events lost because the spool was full or unwritable"
)
PRODUCER_SEND_SECONDS = Histogram("switchyard_producer_send_seconds", "Kafka batch send latency")
CONSUMER_ROWS = Counter("switchyard_consumer_rows_total", "Rows inserted into ClickHouse")
CONSUMER_BATCH_SECONDS = Histogram("switchyard_consumer_insert_seconds", "ClickHouse batch insert latency")
CONSUMER_DLQ = Counter("switchyard_consumer_dead_letters_total", "Messages sent to the dead-letter topic")
CONSUMER_LAG = Gauge("switchyard_consumer_lag", "Messages not yet consumed", ["partition"])

HTTP_REQUESTS = Counter(
    "switchyard_http_requests_total", "HTTP responses by route template, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "switchyard_http_request_seconds", "Time to the response start, by route template", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UPSTREAM_SECONDS = Histogram(
    "switchyard_upstream_seconds", "Provider call latency (to the answer or the stream's opening)",
    ["provider", "model", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FALLBACKS = Counter(
    "switchyard_fallbacks_total", "Requests moved to another model after a provider failure",
    ["from_provider", "reason"],
)
CACHE_LOOKUPS = Counter(
    "switchyard_cache_lookups_total", "Response cache look-ups by result (hit, miss, bypass, error)",
    ["result"],
)
CACHE_SAVED_USD = Counter(
    "switchyard_cache_saved_usd_total", "Provider cost the response cache avoided (the original cost)"
)
RATELIMIT_REJECTED = Counter(
    "switchyard_ratelimit_rejected_total", "Requests refused with 429 by the rate limiter", ["scope"]
)
RATELIMIT_FAIL_OPEN = Counter(
    "switchyard_ratelimit_fail_open_total", "Rate-limit decisions made per process because Redis was down"
)
RATELIMIT_REDIS_UP = Gauge(
    "switchyard_ratelimit_redis_up", "1 while the shared (Redis) rate limiter answers, 0 while failing open"
)
EVENTS_EMITTED = Counter("switchyard_usage_events_emitted_total", "Usage events handed to the producer")
EVENTS_SPOOLED = Counter("switchyard_usage_events_spooled_total", "Usage events written to the disk spool")
PRODUCER_BUFFERED = Gauge("switchyard_usage_producer_buffered", "Usage events waiting in memory for Kafka")
SPOOL_FULL = Gauge("switchyard_usage_spool_full", "1 while the usage spool is full and events are being lost")
CONSUMER_BATCH_ROWS = Histogram(
    "switchyard_consumer_batch_rows", "Rows per ClickHouse insert",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
CONSUMER_DUPLICATES = Counter(
    "switchyard_consumer_duplicates_total", "Events dropped because their event_id was already loaded"
)
CONSUMER_INSERT_ERRORS = Counter(
    "switchyard_consumer_insert_errors_total", "Failed ClickHouse inserts (retried)"
)
CONSUMER_PAUSED = Gauge("switchyard_consumer_paused", "1 while the loader has paused its partitions")


_CHILDREN: dict[tuple[object, tuple[str, ...]], Any] = {}


def labelled(metric: Counter | Histogram, *values: str) -> Any:
    """``metric.labels(*values)``, remembered: the hot path skips prometheus_client's lock and checks.

    Children are never removed from these metrics, so a remembered child is the one ``labels`` returns.
    """
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child
