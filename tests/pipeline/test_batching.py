"""How the loader sizes its inserts, on real Kafka and the gateway's embedded ClickHouse (own database):
a backlog goes in a few big inserts (one per partition), a lone event under light load is written as
soon as the loader has caught up, long before ``batch_seconds``."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from consumers.loader import UsageLoader
from gateway.clickhouse import ClickHouse
from gateway.events.producer import UsageProducer
from schemas import UsageEvent
from tests.conftest import RunningGateway
from tests.pipeline.conftest import PARTITIONS, Topics, make_event


async def _emit(topics: Topics, spool: Path, events: list[UsageEvent]) -> None:
    producer = UsageProducer(topics.bootstrap, topics.name, spool)
    await producer.start()
    for event in events:
        producer.emit(event)
    await producer.stop()
    assert producer.delivered == len(events)


async def _wait_rows(loader: UsageLoader, task: asyncio.Task[None], rows: int, timeout: float) -> float:
    started = time.monotonic()
    while loader.stats.rows < rows:
        if task.done():
            task.result()
        assert time.monotonic() - started < timeout, f"{loader.stats.rows} of {rows} rows after {timeout} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def test_a_backlog_is_inserted_in_one_big_insert_per_partition(
    gateway: RunningGateway, topics: Topics, tmp_path: Path
) -> None:
    users = [uuid.uuid4() for _ in range(60)]
    events = [make_event(users[i % 60], i) for i in range(24_000)]
    database = f"backlog_{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[UsageLoader, int]:
        await _emit(topics, tmp_path / "spool", events)
        clickhouse = ClickHouse(gateway.state.clickhouse.url, database)
        await clickhouse.apply_schema()
        loader = UsageLoader(clickhouse, topics.bootstrap, topics.name, topics.dlq,
                             group_id=f"backlog-{uuid.uuid4().hex[:6]}")  # the default flush policy
        task = asyncio.create_task(loader.run())
        await _wait_rows(loader, task, len(events), 90)
        loader.stop()
        await task
        counted = await clickhouse.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM usage_events")
        rows = counted[0]
        await clickhouse.command(f"DROP DATABASE {database}")
        assert rows["n"] == rows["ids"]
        return loader, rows["n"]

    loader, rows = asyncio.run(scenario())
    assert rows == 24_000
    # Batches of 10,000 rows or 1 s, as before, would take at least 3 flushes x 6 partitions.
    assert loader.stats.inserts <= 2 * PARTITIONS, loader.stats
    assert loader.stats.max_insert_rows >= 24_000 // PARTITIONS // 2, loader.stats


def test_a_lone_event_is_written_once_the_loader_has_caught_up_not_after_batch_seconds(
    gateway: RunningGateway, topics: Topics, tmp_path: Path
) -> None:
    database = f"light_{uuid.uuid4().hex[:8]}"
    user = uuid.uuid4()

    async def scenario() -> list[float]:
        clickhouse = ClickHouse(gateway.state.clickhouse.url, database)
        await clickhouse.apply_schema()
        loader = UsageLoader(clickhouse, topics.bootstrap, topics.name, topics.dlq,
                             group_id=f"light-{uuid.uuid4().hex[:6]}", batch_seconds=60, linger_seconds=0.1)
        task = asyncio.create_task(loader.run())
        waits = []
        for i in range(3):
            await _emit(topics, tmp_path / f"spool{i}", [make_event(user, i)])
            waits.append(await _wait_rows(loader, task, i + 1, 30))  # the first includes the group join
        loader.stop()
        await task
        await clickhouse.command(f"DROP DATABASE {database}")
        return waits

    waits = asyncio.run(scenario())
    assert max(waits[1:]) < 10, waits  # batch_seconds is 60: only the caught-up rule can explain this
