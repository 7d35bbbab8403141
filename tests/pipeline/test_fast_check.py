"""The loader's fast check never lets through what the UsageEvent model rejects, so bad messages
still reach the dead-letter topic with the model's reason; valid events in another shape are
re-serialised through the model; duplicates are dropped before the insert."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.batch import prepare_batch
from consumers.flush_policy import FlushPolicy
from consumers.recent_ids import RecentIds
from consumers.rows import INSERT_SETTINGS, fast_row, normalised_row, row_offset, split_row
from schemas import Attempt, UsageEvent
from schemas.fast_check import CHECKED_FIELDS, _Attempt, fast_event_id
from tests.pipeline.conftest import chdb, insert_action, make_event

TP = TopicPartition("usage", 4)

# (field, JSON value) pairs replacing one field of a good event: valid variants and invalid ones.
MUTATIONS: list[tuple[str, Any]] = [
    ("schema_version", 2), ("schema_version", "1"), ("schema_version", 1.0),
    ("event_id", "not-a-uuid"), ("event_id", "01A23CBD-5A2D-75EB-B356-5161FAB3197C"),
    ("event_id", "01a23cbd5a2d75ebb3565161fab3197c"), ("event_id", None), ("event_id", 7),
    ("user_id", "{01a23cbd-5a2d-75eb-b356-5161fab3197c}"), ("gateway_key_id", None), ("gateway_key_id", ""),
    ("received_at", "2026-01-15T12:00:00Z"), ("received_at", "2026-01-15 12:00:00"),
    ("received_at", "yesterday"), ("received_at", 1768478400), ("received_at", "2026-02-30T00:00:00Z"),
    ("first_token_at", None), ("finished_at", None),
    ("input_tokens", 2**32), ("input_tokens", 2**32 - 1), ("input_tokens", -1), ("input_tokens", 5.0),
    ("input_tokens", 5.5), ("input_tokens", "5"), ("input_tokens", True), ("output_tokens", 2**40),
    ("http_status", 70_000), ("http_status", 0),
    ("cost_usd", "0.000000008"), ("cost_usd", "0.0000000001"), ("cost_usd", "1000000000"),
    ("cost_usd", "999999999.999999999"), ("cost_usd", "8E-9"), ("cost_usd", "-1"), ("cost_usd", 0.5),
    ("cost_usd", "NaN"), ("cost_usd", "Infinity"), ("cost_usd", "01.5"), ("cost_usd", ""), ("cost_usd", 1),
    ("latency_ms", 1e10), ("latency_ms", -0.5), ("latency_ms", 12), ("latency_ms", "12"),
    ("ttft_ms", None), ("ttft_ms", 1e9), ("ttft_ms", 1e9 + 1),
    ("status", "weird"), ("status", "timeout"), ("complexity", "hard"), ("complexity", ""),
    ("stream", 1), ("stream", "true"), ("cache_hit", None),
    ("user_agent", "x" * 256), ("user_agent", "x" * 257), ("user_agent", "é" * 256), ("request_id", 12),
    ("attempts", []), ("attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": 1}]),
    ("attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": 1, "http_status": 200,
                   "extra": 1}]),
    ("attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": -1, "http_status": 200}]),
    ("attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": 1, "http_status": 7}] * 33),
    ("attempts", None), ("prompt", "hello"),
    # Times: a zone is required, and the instant must fit the DateTime columns derived from it.
    ("received_at", "2500-01-01T00:00:00Z"), ("received_at", "2106-02-07T06:28:16Z"),
    ("received_at", "2106-02-07T06:28:15.999Z"), ("received_at", "2106-02-07T06:28:15.999999Z"),
    ("received_at", "1970-01-01T00:00:00Z"), ("received_at", "1969-12-31T23:59:59.999Z"),
    ("received_at", "1970-01-01T00:59:59+01:00"), ("received_at", "2106-02-07T01:00:00-06:00"),
    ("received_at", "2026-01-15T12:00:00"), ("received_at", "2026-01-15"),
    ("received_at", "2026-01-15T12:00:00+05:30"), ("received_at", "2026-01-15T12:00:00.123456789Z"),
    ("first_token_at", "2299-12-31T23:59:59Z"), ("first_token_at", "2026-01-15T12:00:00"),
    ("finished_at", "1900-01-01T00:00:00Z"), ("finished_at", "0001-01-01T00:00:00Z"),
    # Other forms that must be stored as the model holds them.
    ("cost_usd", "0.1000000000"), ("cost_usd", "-0"), ("cost_usd", "1e-9"), ("latency_ms", -0.0),
    ("latency_ms", 1e3), ("user_agent", "a\u0000b"), ("request_id", "\u2028\U0001f600"),
    ("event_id", "urn:uuid:01a23cbd-5a2d-75eb-b356-5161fab3197c"), ("input_tokens", 1e3),
]


def _good() -> dict[str, Any]:
    return orjson.loads(make_event(uuid.uuid4(), 3).to_bytes())


def _record(value: bytes | None, offset: int) -> ConsumerRecord:
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, b"key", value, None, 3,
                          len(value or b""), [])


def _model_accepts(value: bytes) -> bool:
    try:
        UsageEvent.model_validate_json(value)
    except ValueError:
        return False
    return True


def test_the_fast_check_covers_every_field_of_the_model() -> None:
    assert set(CHECKED_FIELDS) == set(UsageEvent.model_fields)
    assert set(_Attempt.__struct_fields__) == set(Attempt.model_fields)


def test_events_as_the_gateway_writes_them_pass_with_their_event_id() -> None:
    events = [make_event(uuid.uuid4(), i, gateway_key_id=None if i % 2 else uuid.uuid4(),
                         first_token_at=None, ttft_ms=None) for i in range(50)]
    events += [make_event(uuid.uuid4(), i) for i in range(50)]
    for event in events:
        assert fast_event_id(event.to_bytes()) == event.event_id


@pytest.mark.parametrize(("field", "value"), MUTATIONS)
def test_the_fast_check_accepts_nothing_the_model_rejects(field: str, value: Any) -> None:
    wire = orjson.dumps(_good() | {field: value})
    event_id = fast_event_id(wire)
    if event_id is not None:
        assert _model_accepts(wire), f"{field}={value!r} passed the fast check but the model rejects it"
        assert UsageEvent.model_validate_json(wire).event_id == event_id


def test_clickhouse_stores_what_passed_the_fast_check_exactly_as_the_model_would_write_it(
    tmp_path: Path,
) -> None:
    """Accepted variants (upper-case UUIDs, 12 for 12.0, ...) go to ClickHouse as they are: the row
    must equal the one the model's re-serialisation gives."""
    accepted = [orjson.dumps(_good() | {f: v}) for f, v in MUTATIONS]
    accepted = [w for w in accepted if fast_event_id(w) is not None]
    assert len(accepted) >= 15
    raw = b"".join(fast_row(w, 0, i) for i, w in enumerate(accepted))
    models = [UsageEvent.model_validate_json(w) for w in accepted]
    via_model = b"".join(normalised_row(event, 1, i) for i, event in enumerate(models))
    settings = dict(INSERT_SETTINGS)
    columns = ", ".join(f"toString({c})" for c in UsageEvent.model_fields)
    rows = chdb(f"chdb://{tmp_path / 'ch'}", "fast", [
        {"apply_schema": True},
        insert_action(raw, {**settings, "insert_deduplication_token": "raw"}),
        insert_action(via_model, {**settings, "insert_deduplication_token": "model"}),
        {"query": f"SELECT kafka_partition AS p, kafka_offset AS o, [{columns}] AS v FROM usage_events"
                  " ORDER BY o, p"},
    ])[-1]
    assert len(rows) == 2 * len(accepted)
    for as_sent, as_model in zip(rows[::2], rows[1::2], strict=True):
        assert (as_sent["p"], as_model["p"]) == (0, 1)
        assert as_sent["v"] == as_model["v"], accepted[as_sent["o"]]


@pytest.mark.parametrize("field", sorted(UsageEvent.model_fields))
def test_a_missing_field_is_left_to_the_model(field: str) -> None:
    data = _good()
    data.pop(field)
    assert fast_event_id(orjson.dumps(data)) is None


def test_a_batch_dead_letters_bad_messages_normalises_foreign_ones_and_drops_duplicates() -> None:
    user = uuid.uuid4()
    events = [make_event(user, i) for i in range(6)]
    foreign = orjson.loads(events[2].to_bytes()) | {"cost_usd": 0.000000003,
                                                    "event_id": str(events[2].event_id).upper()}
    foreign.pop("reasoning_tokens")  # has a default: valid, but not the gateway's shape
    wrong_version = orjson.loads(events[3].to_bytes()) | {"schema_version": 2}
    too_many_tokens = orjson.loads(events[4].to_bytes()) | {"input_tokens": 2**40}
    values: list[bytes | None] = [
        events[0].to_bytes(),
        b"{not json",
        events[1].to_bytes(),
        orjson.dumps(foreign),
        orjson.dumps(wrong_version),
        orjson.dumps(too_many_tokens),
        b"",
        None,
        b"[1, 2]",
        events[0].to_bytes(),  # a re-send within the batch
        events[5].to_bytes(),  # loaded before: in the recent window
    ]
    records = [_record(v, 100 + i) for i, v in enumerate(values)]
    recent = RecentIds(10)
    recent.add_all([events[5].event_id])

    batch = prepare_batch(TP, records, recent)

    reasons = {record.offset: reason for record, reason in batch.dead}
    assert reasons[101].startswith("invalid JSON")
    assert reasons[104] == "unsupported schema_version 2"
    assert reasons[105].startswith("invalid event: input_tokens")
    assert reasons[106] == reasons[107] == "empty message"
    assert reasons[108] == "not a JSON object: list"
    assert len(reasons) == 6
    assert batch.duplicates == 2
    assert batch.fresh_ids == [events[0].event_id, events[1].event_id, events[2].event_id]
    assert batch.normalised == 1
    assert (batch.token, batch.next_offset) == ("usage:4:100-110", 111)
    # The gateway's own messages go through byte for byte; the foreign one as the model writes it.
    normalised_foreign = UsageEvent.model_validate_json(orjson.dumps(foreign))
    assert normalised_foreign.reasoning_tokens == 0 and normalised_foreign.event_id == events[2].event_id
    assert batch.rows == [
        fast_row(values[0], 4, 100),  # type: ignore[arg-type]
        fast_row(values[2], 4, 102),  # type: ignore[arg-type]
        normalised_row(normalised_foreign, 4, 103),
    ]
    assert len(recent) == 1, "the caller adds the batch's ids to the window, not prepare_batch"


def test_rows_carry_their_kafka_coordinates() -> None:
    events = [make_event(uuid.uuid4(), i) for i in range(3)]
    batch = prepare_batch(TP, [_record(e.to_bytes(), 7 + i) for i, e in enumerate(events)], RecentIds(10))
    assert [split_row(row)[1:] for row in batch.rows] == [(4, 7), (4, 8), (4, 9)]
    assert [row_offset(row) for row in batch.rows] == [7, 8, 9]
    with pytest.raises(ValueError):
        split_row(b'{"a":1}\n')


def test_recent_ids_forget_the_oldest_first() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    recent = RecentIds(3)
    recent.add_all(ids)
    assert len(recent) == 3
    assert [i in recent for i in ids] == [False, False, True, True, True]


def test_flush_policy_big_under_backlog_quick_when_caught_up() -> None:
    policy = FlushPolicy(max_rows=1000, max_seconds=1.0, linger_seconds=0.2)
    assert not policy.due(0, 5.0, True)
    assert policy.due(1000, 0.0, False)  # a full batch
    assert not policy.due(999, 0.5, False)  # more is waiting in Kafka: keep filling
    assert policy.due(999, 1.0, False)  # but never hold a row longer than max_seconds
    assert not policy.due(5, 0.1, True)  # caught up: linger a little for more
    assert policy.due(5, 0.2, True)
    assert policy.wait_s(0.05, True) == pytest.approx(0.15)
    assert policy.wait_s(0.05, False) == pytest.approx(0.95)
    with pytest.raises(ValueError):
        FlushPolicy(max_rows=10, max_seconds=0.5, linger_seconds=1.0)
