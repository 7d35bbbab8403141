"""The producer against real Kafka: delivery, the disk spool when Kafka is unreachable, replay order."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from gateway.events.producer import UsageProducer
from gateway.events.spool import Spool
from schemas import UsageEvent
from tests.pipeline.conftest import Topics, make_event, read_topic

DEAD_KAFKA = "127.0.0.1:19599"  # nothing listens here


def _events(n: int, users: int = 7) -> list[UsageEvent]:
    people = [uuid.uuid4() for _ in range(users)]
    return [make_event(people[i % users], i) for i in range(n)]


def _per_user_sequences(records: list[ConsumerRecord]) -> dict[str, list[str]]:
    """request ids per user in partition-offset order (Kafka's order for that user)."""
    by_user: dict[str, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = UsageEvent.from_bytes(record.value)
        assert record.key == str(event.user_id).encode()
        by_user[str(event.user_id)].append(event.request_id)
    return by_user


def _expected_sequences(events: list[UsageEvent]) -> dict[str, list[str]]:
    by_user: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_user[str(event.user_id)].append(event.request_id)
    return by_user


def test_events_reach_kafka_keyed_by_user_in_order(topics: Topics, tmp_path: Path) -> None:
    events = _events(3000)

    async def scenario() -> UsageProducer:
        producer = UsageProducer(topics.bootstrap, topics.name, tmp_path / "spool")
        await producer.start()
        for event in events:
            producer.emit(event)
        await producer.stop()
        return producer

    producer = asyncio.run(scenario())
    assert (producer.delivered, producer.spooled, producer.dropped) == (3000, 0, 0)
    records = asyncio.run(read_topic(topics.bootstrap, topics.name, 3000))
    assert len(records) == 3000
    assert _per_user_sequences(records) == _expected_sequences(events)
    assert len({r.partition for r in records}) > 1  # the load is spread over partitions


def test_shutdown_with_kafka_down_spools_everything_and_next_start_replays_it(
    topics: Topics, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    events = _events(500)

    async def while_kafka_is_down() -> UsageProducer:
        producer = UsageProducer(DEAD_KAFKA, topics.name, spool_dir, send_timeout_s=1, retry_interval_s=0.2)
        await producer.start()
        for event in events[:250]:
            producer.emit(event)
        await asyncio.sleep(0.5)  # the sender finds Kafka unreachable and spools
        for event in events[250:]:
            producer.emit(event)
        await producer.stop(timeout=5)
        return producer

    down = asyncio.run(while_kafka_is_down())
    assert (down.delivered, down.spooled, down.dropped) == (0, 500, 0)
    spooled = [value for _, records in Spool(spool_dir).segments() for _, value in records]
    assert [UsageEvent.from_bytes(v).request_id for v in spooled] == [e.request_id for e in events]

    async def next_start() -> UsageProducer:
        producer = UsageProducer(topics.bootstrap, topics.name, spool_dir)
        await producer.start()
        producer.emit(extra)  # emitted during replay: must come after the spooled events
        await producer.stop()
        return producer

    extra = make_event(events[0].user_id, 999_999)
    up = asyncio.run(next_start())
    assert up.delivered == 501 and up.spool.is_empty()
    records = asyncio.run(read_topic(topics.bootstrap, topics.name, 501))
    assert len(records) == 501
    assert _per_user_sequences(records) == _expected_sequences([*events, extra])


def test_overflowing_buffer_spools_in_emit_order(topics: Topics, tmp_path: Path) -> None:
    """A tiny buffer while Kafka is down: overflow, in-flight and buffered events keep their order."""
    events = _events(1000)

    async def scenario() -> UsageProducer:
        producer = UsageProducer(DEAD_KAFKA, topics.name, tmp_path / "spool", buffer_size=64,
                                 send_timeout_s=0.5, retry_interval_s=0.05)
        await producer.start()
        for i, event in enumerate(events):
            producer.emit(event)
            if i % 100 == 0:
                await asyncio.sleep(0.02)  # let the sender run between bursts
        await producer.stop(timeout=5)
        return producer

    producer = asyncio.run(scenario())
    assert (producer.spooled, producer.dropped) == (1000, 0)
    spooled = [value for _, records in producer.spool.segments() for _, value in records]
    assert [UsageEvent.from_bytes(v).request_id for v in spooled] == [e.request_id for e in events]


def test_full_spool_is_counted_not_silent(tmp_path: Path) -> None:
    events = _events(200)

    async def scenario() -> UsageProducer:
        producer = UsageProducer(DEAD_KAFKA, "unused", tmp_path / "spool", spool_max_bytes=50_000,
                                 send_timeout_s=0.5, retry_interval_s=0.05)
        await producer.start()
        for event in events:
            producer.emit(event)
        await producer.stop(timeout=5)
        return producer

    producer = asyncio.run(scenario())
    assert producer.dropped > 0
    assert producer.spooled + producer.dropped == 200
    assert producer.spool.size_bytes <= 50_000


def test_torn_spool_segment_keeps_its_whole_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([(b"k1", b"first"), (b"k2", b"second")])
    (segment,) = tmp_path.glob("segment-*.log")
    segment.write_bytes(segment.read_bytes()[:-3])  # a crash mid-write of the last record
    (tmp_path / "segment-000000000099.tmp").write_bytes(b"partial")
    reopened = Spool(tmp_path)
    assert [records for _, records in reopened.segments()] == [[(b"k1", b"first")]]
    assert not list(tmp_path.glob("*.tmp"))
