"""Map a usage event to a ``usage_events`` row."""

from __future__ import annotations

from typing import Any

from schemas import UsageEvent

COLUMNS = (
    "event_id", "schema_version", "request_id", "user_id", "gateway_key_id", "created_at",
    "first_token_at", "finished_at", "requested_model", "routed_model", "provider", "complexity",
    "stream", "status", "error_code", "http_status", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms",
    "cache_hit", "attempts", "client_ip_hash", "user_agent", "kafka_partition", "kafka_offset",
)


def event_row(event: UsageEvent, partition: int, offset: int) -> list[Any]:
    return [
        event.event_id, event.schema_version, event.request_id, event.user_id, event.gateway_key_id,
        event.received_at, event.first_token_at, event.finished_at, event.requested_model,
        event.routed_model, event.provider, event.complexity, event.stream, event.status,
        event.error_code, event.http_status, event.input_tokens, event.cached_input_tokens,
        event.cache_write_tokens, event.output_tokens, event.reasoning_tokens, event.cost_usd,
        event.latency_ms, event.ttft_ms, event.cache_hit,
        [(a.model, a.provider, a.outcome, a.latency_ms, a.http_status) for a in event.attempts],
        event.client_ip_hash, event.user_agent, partition, offset,
    ]
