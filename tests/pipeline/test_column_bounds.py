"""Every value the validators accept is stored by ClickHouse exactly (in ``usage_events`` and in the
``usage_hourly`` rollup); every value a column cannot hold is rejected by both validators with a
reason naming the field. Checked against real chdb with the real DDL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from consumers.batch import rejection_reason
from consumers.rows import INSERT_SETTINGS, fast_row, normalised_row
from schemas import UsageEvent
from schemas.fast_check import fast_event_id
from tests.pipeline.conftest import chdb, insert_action, make_event

# (field, JSON value): accepted, and must come back from ClickHouse as the model holds it.
ACCEPTED: list[tuple[str, Any]] = [
    ("received_at", "1970-01-01T00:00:00Z"), ("received_at", "2106-02-07T06:28:15.999999Z"),
    ("received_at", "2106-02-07T00:28:15.999-06:00"), ("received_at", "1970-01-01T05:30:00+05:30"),
    ("received_at", "2026-01-15T23:59:59.9996Z"), ("received_at", 1768478400),
    ("finished_at", "2106-02-07T06:28:15.5Z"), ("first_token_at", "1970-01-01T00:00:00.001Z"),
    ("first_token_at", None),
    ("cost_usd", "999999999.999999999"), ("cost_usd", "0.000000001"), ("cost_usd", "0.1000000000"),
    ("cost_usd", "-0"), ("cost_usd", "1E+2"), ("cost_usd", 0.25),
    ("input_tokens", 2**32 - 1), ("input_tokens", 0), ("output_tokens", 1e3), ("http_status", 65535),
    ("latency_ms", 1e9), ("latency_ms", 0.5), ("ttft_ms", None),
    ("user_agent", "a\u0000b\u2028\U0001f600é"), ("request_id", "x" * 256), ("routed_model", "\t\n\\\""),
    ("event_id", "01A23CBD5A2D75EBB3565161FAB3197C"), ("gateway_key_id", None),
]

# (field, JSON value or raw JSON bytes): a column cannot hold it; both validators refuse it.
REJECTED: list[tuple[str, Any]] = [
    ("received_at", "2500-01-01T00:00:00Z"),  # DateTime64(3) takes it, the rollup's hour saturates
    ("received_at", "2106-02-07T06:28:16Z"), ("received_at", "1969-12-31T23:59:59.999Z"),
    ("received_at", "2106-02-07T01:00:00-06:00"), ("received_at", "1970-01-01T00:59:59+01:00"),
    ("received_at", "2026-01-15T12:00:00"), ("received_at", "2026-01-15"),  # naive: which zone?
    ("first_token_at", "2299-12-31T23:59:59Z"), ("finished_at", "1900-01-01T00:00:00Z"),
    ("finished_at", "0001-01-01T00:00:00Z"), ("first_token_at", "9999-12-31T23:59:59+00:00"),
    ("cost_usd", "1000000000"), ("cost_usd", "0.0000000001"), ("cost_usd", "-0.000000001"),
    ("cost_usd", "NaN"), ("cost_usd", "Infinity"), ("cost_usd", b"1e400"), ("cost_usd", b"NaN"),
    ("input_tokens", 2**32), ("input_tokens", -1), ("input_tokens", b"123456789012345678901234567890"),
    ("http_status", 65536), ("latency_ms", b"NaN"), ("latency_ms", b"Infinity"), ("latency_ms", 1e9 + 1),
    ("ttft_ms", b"-1e-9"), ("user_agent", b'"\\ud800"'), ("user_agent", b'"\xff\xfe"'),
    ("request_id", "x" * 257), ("status", "weird"), ("complexity", "hard"), ("event_id", "01a23cbd"),
    ("user_id", None), ("attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": -1,
                                     "http_status": 200}]),
    ("prompt", "hello"), ("schema_version", 2),
]


def _wire(field: str, value: Any) -> bytes:
    good = orjson.loads(make_event(uuid.uuid4(), 5).to_bytes())
    if isinstance(value, bytes):  # JSON that Python values cannot express (NaN, lone surrogates, ...)
        return orjson.dumps(good | {field: "PLACEHOLDER"}).replace(b'"PLACEHOLDER"', value)
    return orjson.dumps(good | {field: value})


def _millis(at: datetime | None) -> int | None:
    """What DateTime64(3) holds: milliseconds since 1970, the sub-millisecond digits truncated."""
    if at is None:
        return None
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@pytest.mark.parametrize(("field", "value"), REJECTED)
def test_values_a_column_cannot_hold_are_refused_by_both_checks_with_the_field_named(
    field: str, value: Any
) -> None:
    wire = _wire(field, value)
    assert fast_event_id(wire) is None
    with pytest.raises(ValidationError) as refused:
        UsageEvent.model_validate_json(wire)
    reason = rejection_reason(wire, refused.value)
    if field == "schema_version":
        assert reason == "unsupported schema_version 2"
    elif value in (b'"\\ud800"', b'"\xff\xfe"'):
        assert reason.startswith("invalid JSON: "), reason
    else:
        assert reason.startswith(f"invalid event: {field}"), reason


def test_accepted_values_are_stored_exactly_in_the_table_and_the_rollup(tmp_path: Path) -> None:
    wires = [_wire(field, value) for field, value in ACCEPTED]
    events = [UsageEvent.model_validate_json(wire) for wire in wires]
    rows = b"".join(normalised_row(event, 0, i) for i, event in enumerate(events))
    # What passes the fast check goes to ClickHouse as its own bytes: it must be stored the same way.
    fast_ones = [i for i, wire in enumerate(wires) if fast_event_id(wire) is not None]
    assert len(fast_ones) >= 15
    fast = b"".join(fast_row(wires[i], 1, i) for i in fast_ones)
    columns = (
        "kafka_partition AS p, kafka_offset AS o, toString(event_id) AS event_id,"
        " toString(gateway_key_id) AS key, toUnixTimestamp64Milli(received_at) AS received,"
        " toUnixTimestamp64Milli(first_token_at) AS first_token,"
        " toUnixTimestamp64Milli(finished_at) AS finished,"
        " toString(cost_usd) AS cost, input_tokens, output_tokens, http_status, latency_ms, ttft_ms,"
        " user_agent, request_id, routed_model"
    )
    stored, hours = chdb(f"chdb://{tmp_path / 'ch'}", "bounds", [
        {"apply_schema": True},
        insert_action(rows, {**INSERT_SETTINGS, "insert_deduplication_token": "model"}),
        insert_action(fast, {**INSERT_SETTINGS, "insert_deduplication_token": "fast"}),
        {"query": f"SELECT {columns} FROM usage_events ORDER BY p, o"},
        {"query": "SELECT toUnixTimestamp(hour) AS hour, sum(requests) AS n FROM usage_hourly"
                  " GROUP BY hour ORDER BY hour"},
    ])[-2:]
    by_model = [r for r in stored if r["p"] == 0]
    assert len(by_model) == len(events)
    for row, event in zip(by_model, events, strict=True):
        assert row["event_id"] == str(event.event_id)
        assert row["key"] == (str(event.gateway_key_id) if event.gateway_key_id else None)
        assert row["received"] == _millis(event.received_at), event.received_at
        assert row["first_token"] == _millis(event.first_token_at)
        assert row["finished"] == _millis(event.finished_at)
        assert Decimal(row["cost"]) == event.cost_usd
        assert (row["input_tokens"], row["output_tokens"], row["http_status"]) == (
            event.input_tokens, event.output_tokens, event.http_status)
        assert row["latency_ms"] == pytest.approx(event.latency_ms, rel=1e-7)  # Float32
        assert row["ttft_ms"] == (None if event.ttft_ms is None else pytest.approx(event.ttft_ms, rel=1e-7))
        assert (row["user_agent"], row["request_id"], row["routed_model"]) == (
            event.user_agent, event.request_id, event.routed_model)
    for row in (r for r in stored if r["p"] == 1):
        twin = by_model[row["o"]]
        assert {k: v for k, v in row.items() if k != "p"} == {k: v for k, v in twin.items() if k != "p"}
    expected_hours: dict[int, int] = {}
    for event in events:
        hour = _millis(event.received_at) // 3_600_000 * 3600  # type: ignore[operator]
        expected_hours[hour] = expected_hours.get(hour, 0) + 1
    assert len(stored) == len(events) + len(fast_ones)
    assert sum(h["n"] for h in hours) == len(stored)
    assert {h["hour"] for h in hours} == set(expected_hours)
