"""The loader (``python -m consumers``, a real process) from real Kafka into real chdb: exactly-once
rows through crashes, rebalances, producer re-sends and poison messages."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from schemas import UsageEvent
from tests.pipeline.conftest import (
    LoaderProcess,
    Topics,
    chdb,
    chdb_query,
    make_event,
    read_topic,
    wait_committed,
)

COUNT_SQL = (
    "SELECT count() AS n, uniqExact(event_id) AS ids, uniqExact(request_id) AS requests,"
    " toString(sum(cost_usd)) AS cost FROM usage_events"
)
IDS_SQL = "SELECT toString(event_id) AS id FROM usage_events"
ROLLUP_SQL = "SELECT sum(requests) AS n, toString(sum(cost_usd)) AS cost FROM usage_hourly"


async def _produce(
    bootstrap: str, topic: str, values: list[tuple[bytes, bytes]], pause_every: int = 0
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for i, (key, value) in enumerate(values):
            await producer.send(topic, value=value, key=key)
            if pause_every and i % pause_every == pause_every - 1:
                await producer.flush()
                await asyncio.sleep(0.1)
        await producer.flush()
    finally:
        await producer.stop()


def _records(events: list[UsageEvent]) -> list[tuple[bytes, bytes]]:
    return [(str(e.user_id).encode(), e.to_bytes()) for e in events]


def _events(n: int, users: int = 11, start: int = 0) -> list[UsageEvent]:
    people = [uuid.uuid4() for _ in range(users)]
    return [make_event(people[i % users], start + i) for i in range(n)]


def test_crash_between_insert_and_commit_leaves_no_duplicates_and_no_gaps(
    topics: Topics, tmp_path: Path, loaders: list[LoaderProcess]
) -> None:
    events = _events(2000)
    expected_cost = sum(e.cost_usd for e in events)
    asyncio.run(_produce(topics.bootstrap, topics.name, _records(events)))
    group = f"crash-{uuid.uuid4().hex[:6]}"
    crashing = LoaderProcess(topics, tmp_path / "ch", tmp_path / "loader.log", group=group,
                             crash_after_insert=True)
    loaders.append(crashing.start())
    assert crashing.wait(120) == -9, crashing.log()  # SIGKILLed itself after its first insert

    after_crash = chdb_query(crashing.url, crashing.database, COUNT_SQL)[0]
    assert 0 < after_crash["n"] < 2000  # one partition batch made it, uncommitted

    restarted = LoaderProcess(topics, tmp_path / "ch", tmp_path / "loader.log", group=group)
    loaders.append(restarted.start())
    _drain(restarted, topics, group)
    rows, rollup = _totals(restarted)
    assert rows == {"n": 2000, "ids": 2000, "requests": 2000, "cost": expected_cost}
    assert rollup == {"n": 2000, "cost": expected_cost}  # the re-insert was not counted twice


def _totals(loader: LoaderProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    rows, rollup = chdb(loader.url, loader.database, [{"query": COUNT_SQL}, {"query": ROLLUP_SQL}])
    for result in (rows[0], rollup[0]):
        result["cost"] = Decimal(result["cost"])
    return rows[0], rollup[0]


def _drain(loader: LoaderProcess, topics: Topics, group: str, timeout: float = 120) -> None:
    """Wait until ``group`` has committed the end of every partition, then stop the loader gracefully."""
    assert asyncio.run(wait_committed(topics.bootstrap, topics.name, group, timeout)), loader.log()
    assert loader.stop() == 0, loader.log()


def test_poison_messages_go_to_the_dead_letter_topic_and_re_sent_events_are_dropped(
    topics: Topics, tmp_path: Path, loaders: list[LoaderProcess]
) -> None:
    events = _events(600)
    wrong_version = events[0].model_dump(mode="json") | {"schema_version": 2}
    too_many_tokens = events[1].model_dump(mode="json") | {"input_tokens": 2**40}
    poison = [
        (b"k", b"{not json"),
        (b"k", orjson.dumps(wrong_version)),
        (b"k", orjson.dumps(too_many_tokens)),
        (b"k", b""),
    ]
    # Poison in the middle of the stream: what follows it must still load.
    first = _records(events[:300]) + poison + _records(events[300:])
    asyncio.run(_produce(topics.bootstrap, topics.name, first))
    group = f"poison-{uuid.uuid4().hex[:6]}"
    loader = LoaderProcess(topics, tmp_path / "ch", tmp_path / "loader.log", group=group)
    loaders.append(loader.start())
    _drain(loader, topics, group)

    dead = asyncio.run(read_topic(topics.bootstrap, topics.dlq, 4))
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dead)
    assert len(dead) == 4, reasons
    assert any(r.startswith("invalid JSON") for r in reasons)
    assert "unsupported schema_version 2" in reasons
    assert any("input_tokens" in r for r in reasons)
    assert "empty message" in reasons
    assert all(dict(r.headers)["source"].startswith(topics.name.encode()) for r in dead)

    # A producer re-send (same event_ids at new offsets) after a restart: the restored window drops it.
    extra = _events(50, start=10_000)
    asyncio.run(_produce(topics.bootstrap, topics.name, _records(events[500:] + extra)))
    again = LoaderProcess(topics, tmp_path / "ch", tmp_path / "loader.log", group=group)
    loaders.append(again.start())
    _drain(again, topics, group)
    rows, rollup = _totals(again)
    expected_cost = sum(e.cost_usd for e in events + extra)
    assert rows == {"n": 650, "ids": 650, "requests": 650, "cost": expected_cost}
    assert rollup == {"n": 650, "cost": expected_cost}


def test_two_loaders_share_partitions_and_a_rebalance_loses_and_duplicates_nothing(
    topics: Topics, tmp_path: Path, loaders: list[LoaderProcess]
) -> None:
    events = _events(6000, users=60)
    group = f"pair-{uuid.uuid4().hex[:6]}"
    first = LoaderProcess(topics, tmp_path / "a", tmp_path / "a.log", group=group)
    second = LoaderProcess(topics, tmp_path / "b", tmp_path / "b.log", group=group)
    loaders.extend([first.start(), second.start()])
    time.sleep(8)  # both join the group and split the partitions

    producing = threading.Thread(
        target=asyncio.run,
        args=(_produce(topics.bootstrap, topics.name, _records(events), pause_every=300),),
    )
    producing.start()
    time.sleep(2.5)
    assert second.stop() == 0, second.log()  # leaves mid-stream: its partitions move to the first
    producing.join(120)
    _drain(first, topics, group)

    ids_a = {r["id"] for r in chdb_query(first.url, first.database, IDS_SQL)}
    ids_b = {r["id"] for r in chdb_query(second.url, second.database, IDS_SQL)}
    assert ids_a and ids_b, "both loaders should have loaded part of the stream"
    assert not ids_a & ids_b, "an event was loaded by both loaders"
    assert len(ids_a) + len(ids_b) == 6000
    assert ids_a | ids_b == {str(e.event_id) for e in events}
    rows_a = chdb_query(first.url, first.database, COUNT_SQL)[0]["n"]
    rows_b = chdb_query(second.url, second.database, COUNT_SQL)[0]["n"]
    assert rows_a + rows_b == 6000
