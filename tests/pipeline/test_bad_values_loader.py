"""Through the real loader process (real Kafka, real chdb): every class of value a column cannot hold
reaches the dead-letter topic with a reason naming it, rows ClickHouse itself refuses are dead-lettered
with ClickHouse's message, and the good events around them in the same partition load exactly once,
also when the loader is killed between its insert and its commit."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson

from tests.pipeline.conftest import LoaderProcess, Topics, chdb, make_event, read_topic
from tests.pipeline.test_loader import _drain, _produce, _totals

CONSTRAINT = "ALTER TABLE usage_events ADD CONSTRAINT sane_prompt CHECK input_tokens < 1000000"

# (what, field, JSON value or raw JSON bytes, expected start of the dead-letter reason)
BAD: list[tuple[str, str, Any, str]] = [
    ("year 2500", "received_at", "2500-01-01T00:00:00Z", "invalid event: received_at: Input should be less"),
    ("before 1970", "finished_at", "1969-12-31T23:59:59Z", "invalid event: finished_at: Input should be"),
    ("naive time", "first_token_at", "2026-01-15T12:00:00", "invalid event: first_token_at: Input should"),
    ("offset past 2106", "received_at", "2106-02-07T01:00:00-06:00", "invalid event: received_at"),
    ("cost too precise", "cost_usd", "0.0000000001", "invalid event: cost_usd"),
    ("cost too big", "cost_usd", "1000000000", "invalid event: cost_usd"),
    ("negative cost", "cost_usd", "-0.5", "invalid event: cost_usd"),
    ("NaN cost", "cost_usd", b"NaN", "invalid event: cost_usd"),
    ("UInt32 overflow", "input_tokens", 2**32, "invalid event: input_tokens"),
    ("huge integer", "output_tokens", b"123456789012345678901234567890", "invalid event: output_tokens"),
    ("UInt16 overflow", "http_status", 65536, "invalid event: http_status"),
    ("latency NaN", "latency_ms", b"NaN", "invalid event: latency_ms"),
    ("invalid UTF-8", "user_agent", b'"\xc3\x28"', "invalid JSON"),
    ("lone surrogate", "request_id", b'"\\udc00"', "invalid JSON"),
    ("too long", "user_agent", "x" * 257, "invalid event: user_agent"),
    ("bad UUID", "event_id", "01a23cbd-zzzz", "invalid event: event_id"),
    ("enum", "status", "exploded", "invalid event: status"),
    ("nested attempt", "attempts", [{"model": "m", "provider": "p", "outcome": "ok", "latency_ms": -1,
                                     "http_status": 200}], "invalid event: attempts.0.latency_ms"),
    ("unknown field", "prompt", "hello", "invalid event: prompt"),
]


def _wire(event: Any, field: str, value: Any) -> bytes:
    data = orjson.loads(event.to_bytes())
    if isinstance(value, bytes):
        return orjson.dumps(data | {field: "PLACEHOLDER"}).replace(b'"PLACEHOLDER"', value)
    return orjson.dumps(data | {field: value})


def test_bad_values_are_dead_lettered_and_their_neighbours_load_exactly_once(
    topics: Topics, tmp_path: Path, loaders: list[LoaderProcess]
) -> None:
    user = uuid.uuid4()  # one key: every message lands in the same partition, in this order
    key = str(user).encode()
    good: list[bytes] = []
    values: list[bytes] = []
    expected_reasons: dict[int, str] = {}  # index in ``values`` -> reason prefix
    for i, (_, field, value, reason) in enumerate(BAD):
        for j in range(10):  # good events around each bad one
            good.append(make_event(user, 100 * i + j).to_bytes())
            values.append(good[-1])
        expected_reasons[len(values)] = reason
        values.append(_wire(make_event(user, 100 * i + 50), field, value))
    # Valid for the model, refused by ClickHouse (the table's constraint): dead-lettered with its message.
    for i in range(3):
        expected_reasons[len(values)] = "refused by ClickHouse: Code: 469"
        values.append(make_event(user, 5000 + i, input_tokens=5_000_000).to_bytes())
        good.append(make_event(user, 6000 + i).to_bytes())
        values.append(good[-1])
    # Passed by the fast check, refused by ClickHouse's reader: stored as the model holds them.
    minus_zero = make_event(user, 7000).to_bytes().replace(b'"reasoning_tokens":0', b'"reasoning_tokens":-0')
    lower_case_t = make_event(user, 7001).to_bytes().replace(b'T12:', b't12:')
    duplicated = make_event(user, 7002).to_bytes()[:-1] + b',"output_tokens":7}'
    repaired = [minus_zero, lower_case_t, duplicated]
    values += repaired

    path = tmp_path / "ch"
    chdb(f"chdb://{path}", "usage", [{"apply_schema": True}, {"command": CONSTRAINT}])
    asyncio.run(_produce(topics.bootstrap, topics.name, [(key, v) for v in values]))
    group = f"bad-{uuid.uuid4().hex[:6]}"
    # Killed right after its first insert, before the commit: the restart re-reads and re-writes.
    crashing = LoaderProcess(topics, path, tmp_path / "loader.log", group=group, crash_after_insert=True)
    loaders.append(crashing.start())
    assert crashing.wait(120) == -9, crashing.log()
    loader = LoaderProcess(topics, path, tmp_path / "loader.log", group=group)
    loaders.append(loader.start())
    _drain(loader, topics, group)

    dead = asyncio.run(read_topic(topics.bootstrap, topics.dlq, len(expected_reasons)))
    offsets = {int(dict(r.headers)["source"].decode().rsplit(":", 1)[1]): r for r in dead}
    assert len({dict(r.headers)["source"].decode().rsplit(":", 2)[1] for r in dead}) == 1  # one partition
    assert set(offsets) == set(expected_reasons), loader.log()  # a re-read may dead-letter one twice
    for offset, record in offsets.items():
        reason = dict(record.headers)["reason"].decode()
        assert reason.startswith(expected_reasons[offset]), (offset, reason)
        assert record.key == key

    expected_ids = {str(orjson.loads(v)["event_id"]) for v in good + repaired}
    ids = {r["id"] for r in chdb(loader.url, loader.database,
                                  [{"query": "SELECT toString(event_id) AS id FROM usage_events"}])[0]}
    assert ids == expected_ids
    rows, rollup = _totals(loader)
    assert rows["n"] == rows["ids"] == rollup["n"] == len(good) + len(repaired)
    stored = chdb(loader.url, loader.database, [{"query": (
        "SELECT request_id, reasoning_tokens, output_tokens, toString(received_at) AS at FROM usage_events"
        " WHERE request_id IN ('req-0007000', 'req-0007001', 'req-0007002') ORDER BY request_id")}])[0]
    assert [(r["reasoning_tokens"], r["at"][:10]) for r in stored] == [(0, "2026-01-15")] * 3
    assert stored[2]["output_tokens"] == 7
