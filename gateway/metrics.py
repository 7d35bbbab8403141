"""Prometheus metrics of one gateway process (served on /metrics)."""

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
