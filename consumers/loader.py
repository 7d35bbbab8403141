"""The usage-event loader: a consumer-group member that writes Kafka batches into ClickHouse.

It collects messages until it holds ``batch_rows`` of them or the oldest has waited ``batch_seconds``,
then for each partition: validate (bad messages go to the dead-letter topic with the reason), drop
event_ids already loaded from that partition, insert the rest in ONE insert whose deduplication token
is ``topic:partition:first-last`` offsets, and only then commit ``last + 1`` for that partition.

Exactly-once rows, although Kafka delivery is at-least-once:

* a crash or rebalance between insert and commit re-reads the same offsets; the same token makes
  ClickHouse drop the repeated insert (in the hourly rollup too);
* a producer re-send lands at another offset; the per-partition window of recent event_ids (restored
  from ClickHouse whenever the partition is assigned) drops it.

When ClickHouse is down the loader keeps its place: it pauses its partitions and keeps polling (so
the group does not evict it for exceeding ``max_poll_interval_ms``) while it retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from consumers.rows import INSERT_SETTINGS, fast_row, normalised_row
from gateway import metrics
from gateway.clickhouse import ClickHouse
from schemas import SCHEMA_VERSION, UsageEvent

log = logging.getLogger("switchyard.consumer")

GROUP_ID = "switchyard-clickhouse-loader"
RECENT_IDS_PER_PARTITION = 100_000
REVOKE_INSERT_ATTEMPTS = 3
MAX_BACKOFF_S = 30.0
STATS_LOG_INTERVAL_S = 10.0


@dataclass
class LoaderStats:
    rows: int = 0
    batches: int = 0
    dead_letters: int = 0
    duplicates_dropped: int = 0
    insert_errors: int = 0
    restarts: int = 0
    last_insert_ms: float = 0.0
    lag: dict[int, int] = field(default_factory=dict)


@dataclass
class _Parsed:
    record: ConsumerRecord
    event: UsageEvent


class _RecentIds:
    """A bounded, insertion-ordered set of event ids."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

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
        # Another member may have loaded these partitions meanwhile: re-read their recent ids.
        for tp in assigned:
            self.loader.forget_recent_ids(tp.partition)
        log.info("assigned partitions %s", sorted(tp.partition for tp in assigned))


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
        after_insert: Callable[[], None] | None = None,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        self.clickhouse = clickhouse
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.after_insert = after_insert  # fault injection in tests: runs between insert and commit
        self.max_poll_interval_ms = max_poll_interval_ms
        self.stats = LoaderStats()
        self._pending: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._next_offsets: dict[TopicPartition, int] = {}  # for the lag metric
        self._recent: dict[int, _RecentIds] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._paused = False
        self._last_stats_log = time.monotonic()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until ``stop()``; survives Kafka and ClickHouse outages by retrying."""
        while not self._stop.is_set():
            try:
                await self._run_once()
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception:
                self.stats.restarts += 1
                log.exception("usage loader failed; restarting in 2 s (uncommitted batches are re-read)")
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
            session_timeout_ms=30_000,
            heartbeat_interval_ms=3_000,
            max_poll_interval_ms=self.max_poll_interval_ms,
            rebalance_timeout_ms=max(self.max_poll_interval_ms, 10_000),
        )
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        self._dlq = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await self._consumer.start()
        await self._dlq.start()
        log.info("usage loader consuming %s as %s", self.topic, self.group_id)
        oldest: float | None = None
        while not self._stop.is_set():
            fetched = await self._consumer.getmany(timeout_ms=100, max_records=self.batch_rows)
            self._hold(fetched)
            held = sum(len(r) for r in self._pending.values())
            if not held:
                oldest = None
                continue
            oldest = oldest or time.monotonic()
            if held >= self.batch_rows or time.monotonic() - oldest >= self.batch_seconds:
                await self.flush()
                oldest = None
        await self.flush()

    def _hold(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in fetched.items():
            if records:
                self._pending.setdefault(tp, []).extend(records)
                self._next_offsets[tp] = records[-1].offset + 1

    # ---- one flush: per partition insert, then commit -----------------------------------------
    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Insert then commit every pending partition batch (or, on revocation, those in ``only``).

        On revocation a batch that cannot be written is dropped uncommitted: its next owner re-reads it.
        """
        revoking = only is not None
        async with self._lock:
            for tp in list(self._pending):
                if revoking and tp not in only:
                    continue
                records = self._pending.pop(tp)
                if not records:
                    continue
                try:
                    await self._load_partition(tp, records, keep_polling=not revoking)
                    if self.after_insert is not None:
                        self.after_insert()
                    assert self._consumer is not None
                    await self._consumer.commit({tp: records[-1].offset + 1})
                except Exception:
                    if not revoking:
                        raise
                    log.exception("could not flush revoked partition %d; its next owner re-reads it",
                                  tp.partition)
            self._update_lag()

    async def _load_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord], keep_polling: bool
    ) -> None:
        recent = await self._recent_ids(tp.partition)
        fresh: list[_Parsed] = []
        batch_ids: set[str] = set()
        for record in records:
            event = await self._parse_or_dead_letter(record)
            if event is None:
                continue
            event_id = str(event.event_id)
            if event_id in recent or event_id in batch_ids:
                self.stats.duplicates_dropped += 1
                metrics.CONSUMER_DUPLICATES.inc()
                continue
            batch_ids.add(event_id)
            fresh.append(_Parsed(record, event))
        if fresh:
            token = f"{tp.topic}:{tp.partition}:{records[0].offset}-{records[-1].offset}"
            await self._insert(fresh, token, keep_polling)
        for event_id in batch_ids:
            recent.add(event_id)
        self.stats.rows += len(fresh)
        self.stats.batches += 1

    async def _insert(self, rows: list[_Parsed], token: str, keep_polling: bool) -> None:
        """Insert with retry; the fast row format first, the normalised one if ClickHouse refuses it."""
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        data = b"".join(fast_row(p.record.value, p.record.partition, p.record.offset) for p in rows)
        attempts = 0
        delay = 0.5
        while True:
            started = time.perf_counter()
            try:
                await self.clickhouse.insert_raw("usage_events", data, "JSONEachRow", settings)
            except Exception as exc:
                attempts += 1
                self.stats.insert_errors += 1
                metrics.CONSUMER_INSERT_ERRORS.inc()
                if attempts == 1:
                    # Maybe the data, not the server: rebuild every row through the model.
                    data = b"".join(
                        normalised_row(p.event, p.record.partition, p.record.offset) for p in rows
                    )
                if not keep_polling and attempts >= REVOKE_INSERT_ATTEMPTS:
                    raise
                if self._stop.is_set() and attempts >= REVOKE_INSERT_ATTEMPTS:
                    raise
                log.warning("ClickHouse insert of %d rows failed (%s); retry %d in %.1f s",
                            len(rows), exc, attempts, delay)
                await self._wait_polling(delay) if keep_polling else await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            elapsed = time.perf_counter() - started
            self._resume()
            self.stats.last_insert_ms = elapsed * 1000
            metrics.CONSUMER_ROWS.inc(len(rows))
            metrics.CONSUMER_BATCH_SECONDS.observe(elapsed)
            metrics.CONSUMER_BATCH_ROWS.observe(len(rows))
            return

    async def _wait_polling(self, seconds: float) -> None:
        """Wait while keeping the group membership alive: every partition paused, polling anyway.

        A poll resets aiokafka's max_poll_interval clock; records of partitions assigned meanwhile
        (not paused yet) are kept for the next flush, never skipped.
        """
        consumer = self._consumer
        if consumer is None:
            await asyncio.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            assigned = consumer.assignment()
            if assigned - consumer.paused():
                consumer.pause(*assigned)
                if not self._paused:
                    log.warning("paused partitions %s until ClickHouse takes inserts again",
                                sorted(tp.partition for tp in assigned))
                self._paused = True
                metrics.CONSUMER_PAUSED.set(1)
            self._hold(await consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000) + 1))

    def _resume(self) -> None:
        if self._paused and self._consumer is not None:
            self._consumer.resume(*self._consumer.assignment())
            self._paused = False
            metrics.CONSUMER_PAUSED.set(0)
            log.info("ClickHouse takes inserts again; partitions resumed")

    # ---- validation and the dead-letter topic -------------------------------------------------
    async def _parse_or_dead_letter(self, record: ConsumerRecord) -> UsageEvent | None:
        value = record.value
        if not value:
            await self._dead_letter(record, "empty message")
            return None
        try:
            return UsageEvent.model_validate_json(value)
        except ValidationError as exc:
            reason = _rejection_reason(value, exc)
        await self._dead_letter(record, reason)
        return None

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        assert self._dlq is not None
        headers = [
            ("reason", reason.encode()[:1000]),
            ("source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
        ]
        await self._dlq.send_and_wait(
            self.dlq_topic, value=record.value or b"", key=record.key, headers=headers
        )
        self.stats.dead_letters += 1
        metrics.CONSUMER_DLQ.inc()
        log.warning("dead-lettered %s:%d:%d: %s", record.topic, record.partition, record.offset, reason)

    # ---- the duplicate window -----------------------------------------------------------------
    def forget_recent_ids(self, partition: int) -> None:
        self._recent.pop(partition, None)

    async def _recent_ids(self, partition: int) -> _RecentIds:
        recent = self._recent.get(partition)
        if recent is None:
            recent = await self._restore_recent_ids(partition)
            self._recent[partition] = recent
        return recent

    async def _restore_recent_ids(self, partition: int) -> _RecentIds:
        """Seed the duplicate filter with the ids most recently loaded from this partition."""
        delay = 0.5
        while True:
            try:
                rows = await self.clickhouse.query(
                    f"SELECT toString(event_id) AS id FROM {self.clickhouse.database}.usage_events "
                    "WHERE kafka_partition = {p:UInt16} AND inserted_at > now64(3) - INTERVAL 2 DAY "
                    "ORDER BY kafka_offset DESC LIMIT {n:UInt32}",
                    {"p": partition, "n": RECENT_IDS_PER_PARTITION},
                )
                break
            except Exception as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot read recent ids of partition %d (%s); retrying", partition, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        recent = _RecentIds(RECENT_IDS_PER_PARTITION)
        for row in reversed(rows):
            recent.add(row["id"])
        log.info("partition %d: %d recent event ids restored", partition, len(recent))
        return recent

    # ---- observability ------------------------------------------------------------------------
    def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = self._next_offsets.get(tp)
            if highwater is not None and position is not None:
                lag = max(0, highwater - position)
                self.stats.lag[tp.partition] = lag
                metrics.CONSUMER_LAG.labels(partition=str(tp.partition)).set(lag)
        now = time.monotonic()
        if now - self._last_stats_log >= STATS_LOG_INTERVAL_S:
            self._last_stats_log = now
            s = self.stats
            log.info("loader: %d rows in %d batches, last insert %.1f ms, %d duplicates, %d dead letters, "
                     "lag %d", s.rows, s.batches, s.last_insert_ms, s.duplicates_dropped, s.dead_letters,
                     sum(s.lag.values()))

    async def _close(self) -> None:
        for client in (self._consumer, self._dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._dlq = None
        self._pending.clear()
        self._recent.clear()
        self._paused = False
        metrics.CONSUMER_PAUSED.set(0)


def _rejection_reason(value: bytes, exc: ValidationError) -> str:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as json_error:
        return f"invalid JSON: {json_error}"
    if not isinstance(data, dict):
        return f"not a JSON object: {type(data).__name__}"
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        return f"unsupported schema_version {version!r}"
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid event: {where}: {first['msg']}"
