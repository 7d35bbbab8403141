"""The usage event schema and the ClickHouse tables: compact wire format, bounds that match the
columns, and ClickHouse (chdb) really dropping a repeated insert in the raw table AND the rollup."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from consumers.rows import INSERT_SETTINGS, fast_row
from gateway.clickhouse import access_statements, retention_statements
from schemas import SCHEMA_VERSION, UsageEvent
from schemas.usage_event import uuid7
from tests.pipeline.conftest import chdb, insert_action, make_event

TOTALS = (
    "SELECT (SELECT count() FROM usage_events) AS rows,"
    " (SELECT sum(requests) FROM usage_hourly) AS rollup_requests,"
    " (SELECT toString(sum(cost_usd)) FROM usage_hourly) AS rollup_cost"
)


def test_event_round_trips_compactly_without_prompt_text() -> None:
    event = make_event(uuid.uuid4(), 7)
    wire = event.to_bytes()
    assert UsageEvent.from_bytes(wire) == event
    assert b" " not in wire.replace(b"pytest", b"")  # compact separators
    assert b'"cost_usd":"0.000000008"' in wire  # exact decimal, as a string
    assert event.schema_version == SCHEMA_VERSION
    assert not {"prompt", "messages", "content", "completion"} & set(UsageEvent.model_fields)


def test_event_ids_are_uuid7_and_sort_by_time() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 1000
    millis = [i.int >> 80 for i in ids]
    assert millis == sorted(millis)


@pytest.mark.parametrize(
    ("field", "value"),
    [("input_tokens", 2**32), ("output_tokens", -1), ("http_status", 70_000),
     ("cost_usd", Decimal("0.0000000001")), ("cost_usd", Decimal("1e12")), ("schema_version", 2),
     ("status", "weird"), ("user_agent", "x" * 300)],
)
def test_values_the_table_cannot_hold_are_rejected(field: str, value: object) -> None:
    good = make_event(uuid.uuid4(), 1).model_dump()
    with pytest.raises(ValidationError):
        UsageEvent(**(good | {field: value}))


def test_repeated_insert_with_the_same_token_is_dropped_in_the_table_and_the_rollup(tmp_path: Path) -> None:
    user = uuid.uuid4()
    events = [make_event(user, i) for i in range(100)]
    rows = b"".join(fast_row(e.to_bytes(), 3, i) for i, e in enumerate(events))
    token = {**INSERT_SETTINGS, "insert_deduplication_token": "usage:3:0-99"}
    other_token = {**INSERT_SETTINGS, "insert_deduplication_token": "usage:3:100-199"}
    results = chdb(f"chdb://{tmp_path / 'ch'}", "dedup", [
        {"apply_schema": True},
        insert_action(rows, token),
        {"query": TOTALS},
        insert_action(rows, token),  # the loader re-inserting after a crash before its commit
        {"query": TOTALS},
        insert_action(rows, other_token),  # proves the token (not luck) decided: a new token inserts
        {"query": TOTALS},
        {"query": "SELECT count() AS n FROM usage_events WHERE created_at = received_at"},
    ])
    total = sum(e.cost_usd for e in events)
    first, repeated, different = results[2][0], results[4][0], results[6][0]
    assert (first["rows"], first["rollup_requests"], Decimal(first["rollup_cost"])) == (100, 100, total)
    assert repeated == first
    assert (different["rows"], different["rollup_requests"]) == (200, 200)
    assert results[7][0]["n"] == 200  # created_at is an alias of received_at for existing queries


def test_every_event_field_is_a_column_and_ttl_and_analyst_sql_apply(tmp_path: Path) -> None:
    statements = [{"command": s} for s in retention_statements("ttl", "30")]
    formatted = [{"query": "SELECT formatQuery({q:String}) AS q", "params": {"q": s}}
                 for s in access_statements("ttl")]
    results = chdb(f"chdb://{tmp_path / 'ch'}", "ttl", [
        {"apply_schema": True},
        {"query": "SELECT name FROM system.columns WHERE database = 'ttl' AND table = 'usage_events'"},
        *statements,
        {"query": "SELECT create_table_query AS q FROM system.tables WHERE database = 'ttl'"
                  " AND name = 'usage_events'"},
        *formatted,
    ])
    columns = {row["name"] for row in results[1]}
    assert set(UsageEvent.model_fields) <= columns
    assert "TTL toDateTime(received_at) + toIntervalDay(30)" in results[1 + len(statements) + 1][0]["q"]
    parsed = [r[0]["q"] for r in results[-len(formatted):]]
    assert any(q.startswith("CREATE SETTINGS PROFILE") and "readonly = 1" in q for q in parsed)
    assert any(q.startswith("GRANT SELECT ON ttl.usage_events TO analyst") for q in parsed)
    assert any(q.startswith("CREATE QUOTA") for q in parsed)
    with pytest.raises(ValueError):
        retention_statements("ttl", "-3")
    assert retention_statements("ttl", "") == []
