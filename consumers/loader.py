"""The usage-event loader: a consumer-group member that writes Kafka batches into ClickHouse.

Per poll cycle it collects up to ``batch_rows`` messages or ``batch_seconds`` of time, then for each
partition: parse (bad messages go to the dead-letter topic), drop event_ids already loaded, insert the
batch in ONE insert whose deduplication token is ``topic:partition:first-last`` offsets, and only then
commit ``last + 1`` for that partition. A crash between insert and commit re-reads the same offsets,
produces the same token, and ClickHouse ignores the repeated insert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from consumers.rows import COLUMNS, event_row
from gateway import metrics
from gateway.clickhouse import ClickHouse
from schemas import SCHEMA_VERSION, UsageEvent

log = logging.getLogger("switchyard.consumer")

GROUP_ID = "switchyard-clickhouse-loader"
RECENT_IDS_PER_PARTITION = 50_000


@dataclass
class LoaderStats:
    rows: int = 0
    batches: int = 0
    dead_letters: int = 0
    duplicates_dropped: int = 0
    last_insert_ms: float = 0.0
    lag: dict[int, int] = field(default_factory=dict)


class _RecentIds:
    """A bounded, insertion-ordered set of event ids."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, loader: UsageLoader) -> None:
        self.loader = loader

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Write and commit what we hold for these partitions while we still own them.
        await self.loader.flush(only=set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            await self.loader.restore_recent_ids(tp.partition)


class UsageLoader:
    def __init__(
        self,
        clickhouse: ClickHouse,
        bootstrap_servers: str,
        topic: str,
        dlq_topic: str,
        *,
        group_id: str = GROUP_ID,
        batch_rows: int = 10_000,
        batch_seconds: float = 1.0,
    ) -> None:
        self.clickhouse = clickhouse
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.stats = LoaderStats()
        self._pending: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._recent: dict[int, _RecentIds] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Consume until ``stop()``; survives Kafka and ClickHouse outages by retrying."""
        while not self._stop.is_set():
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("usage loader failed; restarting in 2 s")
                await self._close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2)
        await self._close()

    def stop(self) -> None:
        self._stop.set()

    async def _run_once(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_rows,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        self._dlq = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await self._consumer.start()
        await self._dlq.start()
        log.info("usage loader consuming %s as %s", self.topic, self.group_id)
        batch_started = time.monotonic()
        while not self._stop.is_set():
            fetched = await self._consumer.getmany(timeout_ms=200, max_records=self.batch_rows)
            for tp, records in fetched.items():
                self._pending.setdefault(tp, []).extend(records)
            held = sum(len(r) for r in self._pending.values())
            if held and (held >= self.batch_rows or time.monotonic() - batch_started >= self.batch_seconds):
                await self.flush()
                batch_started = time.monotonic()
            elif not held:
                batch_started = time.monotonic()
        await self.flush()

    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Insert then commit every pending partition batch (or only those in ``only``)."""
        consumer = self._consumer
        for tp in list(self._pending):
            if only is not None and tp not in only:
                continue
            records = self._pending[tp]
            if records:
                await self._load_partition(tp, records)
                assert consumer is not None
                await consumer.commit({tp: records[-1].offset + 1})
            del self._pending[tp]
        if consumer is not None:
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                position = await consumer.position(tp) if highwater is not None else None
                if highwater is not None and position is not None:
                    self.stats.lag[tp.partition] = max(0, highwater - position)
                    metrics.CONSUMER_LAG.labels(partition=str(tp.partition)).set(self.stats.lag[tp.partition])

    async def _load_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        recent = self._recent.setdefault(tp.partition, _RecentIds(RECENT_IDS_PER_PARTITION))
        rows = []
        batch_ids: set[str] = set()
        for record in records:
            event = await self._parse_or_dead_letter(record)
            if event is None:
                continue
            event_id = str(event.event_id)
            if event_id in recent or event_id in batch_ids:
                self.stats.duplicates_dropped += 1
                continue
            batch_ids.add(event_id)
            rows.append(event_row(event, tp.partition, record.offset))
        if rows:
            token = f"{tp.topic}:{tp.partition}:{records[0].offset}-{records[-1].offset}"
            await self._insert_with_retry(rows, token)
        for event_id in batch_ids:
            recent.add(event_id)
        self.stats.rows += len(rows)
        self.stats.batches += 1

    async def _insert_with_retry(self, rows: list[list], token: str) -> None:
        delay = 0.5
        while True:
            started = time.perf_counter()
            try:
                await self.clickhouse.insert(
                    "usage_events", rows, COLUMNS, settings={"insert_deduplication_token": token}
                )
            except Exception as exc:
                if self._stop.is_set() and delay > 8:
                    raise
                log.warning("ClickHouse insert failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            elapsed = time.perf_counter() - started
            self.stats.last_insert_ms = elapsed * 1000
            metrics.CONSUMER_ROWS.inc(len(rows))
            metrics.CONSUMER_BATCH_SECONDS.observe(elapsed)
            return

    async def _parse_or_dead_letter(self, record: ConsumerRecord) -> UsageEvent | None:
        reason = ""
        try:
            data = orjson.loads(record.value)
            version = data.get("schema_version") if isinstance(data, dict) else None
            if version != SCHEMA_VERSION:
                reason = f"unsupported schema_version {version!r}"
            else:
                return UsageEvent.model_validate(data)
        except orjson.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc}"
        except ValidationError as exc:
            reason = f"invalid event: {exc.errors(include_url=False)[0]['msg']}"
        await self._dead_letter(record, reason)
        return None

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        assert self._dlq is not None
        headers = [
            ("reason", reason.encode()[:1000]),
            ("source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
        ]
        await self._dlq.send_and_wait(self.dlq_topic, value=record.value, key=record.key, headers=headers)
        self.stats.dead_letters += 1
        metrics.CONSUMER_DLQ.inc()
        log.warning("dead-lettered %s:%d:%d: %s", record.topic, record.partition, record.offset, reason)

    async def restore_recent_ids(self, partition: int) -> None:
        """Seed the duplicate filter with ids recently loaded from this partition."""
        rows = await self.clickhouse.query(
            "SELECT toString(event_id) AS id FROM usage_events "
            "WHERE kafka_partition = {p:UInt16} AND inserted_at > now() - INTERVAL 1 DAY "
            "ORDER BY inserted_at DESC LIMIT {n:UInt32}",
            {"p": partition, "n": RECENT_IDS_PER_PARTITION},
        )
        recent = _RecentIds(RECENT_IDS_PER_PARTITION)
        for row in reversed(rows):
            recent.add(row["id"])
        self._recent[partition] = recent

    async def _close(self) -> None:
        for client in (self._consumer, self._dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._dlq = None
        self._pending.clear()
