"""ClickHouse refusing inserts: the loader pauses, keeps its group membership and its place, retries,
and loads everything exactly once when ClickHouse takes inserts again.

The refusal is real: ``parts_to_throw_insert = 0`` makes ClickHouse answer every insert into the table
with TOO_MANY_PARTS, its own back-pressure error. The loader runs in this process on the gateway's
embedded engine (one engine per process), in a database of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from consumers.loader import UsageLoader
from gateway import metrics
from gateway.clickhouse import ClickHouse
from gateway.events.producer import UsageProducer
from tests.conftest import RunningGateway
from tests.pipeline.conftest import Topics, group_members, make_event, wait_committed

REFUSE_INSERTS = "MODIFY SETTING parts_to_throw_insert = 0"
TAKE_INSERTS = "MODIFY SETTING parts_to_throw_insert = 3000"


def _gauge(gauge: object) -> float:
    return gauge._value.get()  # type: ignore[attr-defined]


def test_loader_pauses_and_keeps_its_place_while_clickhouse_refuses_inserts(
    gateway: RunningGateway, topics: Topics, tmp_path: object
) -> None:
    database = f"bp_{uuid.uuid4().hex[:8]}"
    users = [uuid.uuid4() for _ in range(9)]
    events = [make_event(users[i % 9], i) for i in range(900)]
    group = f"bp-{uuid.uuid4().hex[:6]}"

    async def scenario() -> tuple[UsageLoader, list[int], bool, float, int]:
        clickhouse = ClickHouse(gateway.state.clickhouse.url, database)
        await clickhouse.apply_schema()
        await clickhouse.command(f"ALTER TABLE {database}.usage_events {REFUSE_INSERTS}")
        producer = UsageProducer(topics.bootstrap, topics.name, tmp_path / "spool")  # type: ignore[operator]
        await producer.start()
        for event in events:
            producer.emit(event)
        await producer.stop()
        # A short max_poll_interval: without polling while paused, the group would evict the loader.
        loader = UsageLoader(clickhouse, topics.bootstrap, topics.name, topics.dlq, group_id=group,
                             batch_seconds=0.3, max_poll_interval_ms=4_000)
        task = asyncio.create_task(loader.run())
        counts = []
        deadline = time.monotonic() + 14
        paused_seen = False
        while time.monotonic() < deadline:  # well past max_poll_interval
            await asyncio.sleep(1)
            paused_seen = paused_seen or _gauge(metrics.CONSUMER_PAUSED) == 1
            counts.append((await clickhouse.query("SELECT count() AS n FROM usage_events"))[0]["n"])
        committed_during_outage = not await wait_committed(topics.bootstrap, topics.name, group, timeout=1)
        members_after_outage = await group_members(topics.bootstrap, group)
        await clickhouse.command(f"ALTER TABLE {database}.usage_events {TAKE_INSERTS}")
        assert await wait_committed(topics.bootstrap, topics.name, group, timeout=60)
        rows = await clickhouse.query(
            "SELECT count() AS n, uniqExact(event_id) AS ids, toString(sum(cost_usd)) AS cost"
            " FROM usage_events")
        loader.stop()
        await task
        await clickhouse.command(f"DROP DATABASE {database}")
        counts.append(rows[0]["n"])
        assert rows[0]["ids"] == rows[0]["n"]
        held_back = paused_seen and committed_during_outage
        return loader, counts, held_back, float(rows[0]["cost"]), members_after_outage

    loader, counts, paused_and_not_committed, cost, members = asyncio.run(scenario())
    assert members == 1, "the loader was evicted from its group while ClickHouse was down"
    assert set(counts[:-1]) == {0}, "nothing may be written while ClickHouse refuses inserts"
    assert paused_and_not_committed
    assert loader.stats.insert_errors >= 3
    assert loader.stats.restarts == 0, "the loader lost its group membership or crashed"
    assert counts[-1] == 900
    assert cost == float(sum(e.cost_usd for e in events))
    assert _gauge(metrics.CONSUMER_PAUSED) == 0
