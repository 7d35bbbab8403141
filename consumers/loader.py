"""The usage-event loader: a consumer-group member that writes Kafka batches into ClickHouse.

Fetched messages are validated as they arrive (``consumers.batch``: bad ones are set aside for the
dead-letter topic with the reason, event_ids already loaded from that partition are dropped) into one
pending batch per partition. When the flush policy says so (``consumers.flush_policy``: a full batch,
caught up with the partitions' end, or the oldest message too old), each partition batch is written
in ONE insert whose deduplication token is ``topic:partition:first-last`` offsets, and only then is
``last + 1`` committed for that partition.

The inserts and commits of one flush run in a writer task (the insert itself in ClickHouse's worker
thread) while the event loop fetches and validates the next batch; at most one flush is being written
at a time, so inserts and commits of a partition stay in offset order.

Exactly-once rows, although Kafka delivery is at-least-once:

* a crash or rebalance between insert and commit re-reads the same offsets; the same token makes
  ClickHouse drop the repeated insert (in the hourly rollup too);
* a producer re-send lands at another offset; the per-partition window of recent event_ids (restored
  from ClickHouse whenever the partition is assigned) drops it.

When ClickHouse is down the loader keeps its place: it pauses its partitions and keeps polling (so
the group does not evict it for exceeding ``max_poll_interval_ms``) while the writer retries with
backoff. A write that fails for good (only while stopping or giving partitions away) restarts the
consumer, which re-reads everything uncommitted. An insert ClickHouse refuses for its data (a parse
error, a constraint: ``consumers.refusals``) is not retried as it is: the refused rows are found,
dead-lettered with ClickHouse's message and the rest inserted (``consumers.split_insert``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.batch import PartitionBatch
from consumers.flush_policy import DEFAULT_POLICY, FlushPolicy
from consumers.recent_ids import RecentIds
from consumers.refusals import is_data_error, refusal_reason
from consumers.rows import EMBEDDED_INSERT_SETTINGS, INSERT_SETTINGS, split_row
from consumers.split_insert import insert_or_isolate
from gateway import metrics
from gateway.clickhouse import ClickHouse

log = logging.getLogger("switchyard.consumer")

GROUP_ID = "switchyard-clickhouse-loader"
RECENT_IDS_PER_PARTITION = 100_000
REVOKE_INSERT_ATTEMPTS = 3
MAX_BACKOFF_S = 30.0
STATS_LOG_INTERVAL_S = 10.0
POLL_S = 0.1
FETCH_CHUNK = 20_000  # records per getmany: keeps the loop responsive while a backlog is read


@dataclass
class LoaderStats:
    rows: int = 0
    batches: int = 0  # partition batches written (each: at most one insert, then one commit)
    inserts: int = 0
    max_insert_rows: int = 0
    dead_letters: int = 0
    duplicates_dropped: int = 0
    normalised: int = 0  # valid events not in the gateway's wire shape, re-serialised
    insert_errors: int = 0
    refused_inserts: int = 0  # inserts ClickHouse refused for their data (then split, see split_insert)
    restarts: int = 0
    last_insert_ms: float = 0.0
    insert_seconds: float = 0.0  # total time inside successful inserts
    lag: dict[int, int] = field(default_factory=dict)


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


class _RestartNeeded(Exception):
    """A write failed for good on a partition we keep: re-read from the last commit."""


class UsageLoader:
    def __init__(
        self,
        clickhouse: ClickHouse,
        bootstrap_servers: str,
        topic: str,
        dlq_topic: str,
        *,
        group_id: str = GROUP_ID,
        batch_rows: int = DEFAULT_POLICY.max_rows,
        batch_seconds: float = DEFAULT_POLICY.max_seconds,
        linger_seconds: float = DEFAULT_POLICY.linger_seconds,
        after_insert: Callable[[], None] | None = None,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        self.clickhouse = clickhouse
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.group_id = group_id
        self.policy = FlushPolicy(batch_rows, batch_seconds, min(linger_seconds, batch_seconds))
        self.after_insert = after_insert  # fault injection in tests: runs between insert and commit
        self.max_poll_interval_ms = max_poll_interval_ms
        self.stats = LoaderStats()
        self._pending: dict[TopicPartition, PartitionBatch] = {}  # validated as fetched
        self._held = 0  # records in ``_pending``
        self._oldest: float | None = None  # monotonic time the oldest held record was fetched
        self._next_offsets: dict[TopicPartition, int] = {}
        self._recent: dict[int, RecentIds] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._giving_up = False  # stopping or revoking: a failing insert is retried a few times only
        self._failing = False  # the writer's last insert attempt failed
        self._paused = False  # reported paused: ClickHouse refuses inserts
        self._restart_needed = False
        self._last_poll = time.monotonic()
        # Poll at least this often, even while a full batch waits for the writer.
        self._poll_due_s = min(10.0, max_poll_interval_ms / 1000 / 3)
        self._last_stats_log = time.monotonic()

    @property
    def batch_rows(self) -> int:
        return self.policy.max_rows

    @property
    def batch_seconds(self) -> float:
        return self.policy.max_seconds

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
            max_poll_records=FETCH_CHUNK,
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
        consumer = self._consumer
        while not self._stop.is_set():
            self._check_writer()
            full = self._writer_busy() and self._held >= self.policy.max_rows
            if full and not self._failing and time.monotonic() - self._last_poll < self._poll_due_s:
                # A full batch waits for the writer: let it finish rather than read further ahead
                # (a pause would drop what aiokafka has prefetched).
                await asyncio.wait({self._writer}, timeout=0.5)  # type: ignore[arg-type]
                continue
            self._pause_if(self._failing or full)
            self._last_poll = time.monotonic()
            fetched = await consumer.getmany(
                timeout_ms=self._poll_timeout_ms(),
                max_records=max(1, min(FETCH_CHUNK, self.policy.max_rows - self._held)),
            )
            async with self._lock:
                await self._hold(fetched)
                if not self._writer_busy() and self._flush_due():
                    self._writer = asyncio.create_task(self._write(self._take(list(self._pending))))
        await self.flush()

    def _check_writer(self) -> None:
        """Surface a writer failure: the run restarts and re-reads everything uncommitted."""
        writer = self._writer
        if writer is not None and writer.done():
            self._writer = None
            writer.result()
        if self._restart_needed:
            self._restart_needed = False
            raise _RestartNeeded("a batch could not be written; re-reading from the last commit")

    def _writer_busy(self) -> bool:
        return self._writer is not None and not self._writer.done()

    async def _hold(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Validate and de-duplicate fetched records into their partition's pending batch; their ids
        join the recent window now, so later records (and the next batch) are checked against them."""
        for tp, records in fetched.items():
            if not records:
                continue
            recent = self._recent.get(tp.partition)
            if recent is None:
                recent = self._recent[tp.partition] = await self._restore_recent_ids(tp.partition)
            batch = self._pending.get(tp)
            if batch is None:
                batch = self._pending[tp] = PartitionBatch(tp, records[0].offset)
            recent.add_all(batch.add(records, recent))
            self._next_offsets[tp] = records[-1].offset + 1
            self._held += len(records)
            if self._oldest is None:
                self._oldest = time.monotonic()

    def _caught_up(self) -> bool:
        """True when every partition we hold rows of has nothing more to fetch right now."""
        consumer = self._consumer
        assert consumer is not None
        for tp in self._pending:
            highwater = consumer.highwater(tp)
            if highwater is not None and self._next_offsets.get(tp, 0) < highwater:
                return False
        return True

    def _flush_due(self) -> bool:
        if not self._held or self._oldest is None:
            return False
        return self.policy.due(self._held, time.monotonic() - self._oldest, self._caught_up())

    def _poll_timeout_ms(self) -> int:
        if not self._held or self._oldest is None or self._writer_busy():
            return int(POLL_S * 1000)
        wait = self.policy.wait_s(time.monotonic() - self._oldest, self._caught_up())
        return int(min(wait, POLL_S) * 1000)

    def _take(self, tps: Iterable[TopicPartition]) -> list[PartitionBatch]:
        taken = []
        for tp in tps:
            batch = self._pending.pop(tp, None)
            if batch is not None:
                taken.append(batch)
                self._held -= batch.records
        if not self._pending:
            self._held = 0
            self._oldest = None
        return taken

    # ---- one flush: per partition insert, then commit -----------------------------------------
    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Write and commit every held partition batch (or, on revocation, those in ``only``),
        after the batch being written (if any).

        On revocation a batch that cannot be written is dropped uncommitted: its next owner re-reads
        it; if that happens to a partition this member keeps, the consumer restarts.
        """
        revoking = only is not None
        async with self._lock:
            self._giving_up = revoking or self._stop.is_set()
            try:
                if self._writer is not None:
                    try:
                        await self._writer
                    except Exception:
                        if not revoking:
                            raise
                        log.exception("a batch could not be written before the rebalance; re-reading")
                        self._restart_needed = True
                    finally:
                        self._writer = None
                tps = [tp for tp in self._pending if only is None or tp in only]
                try:
                    await self._write(self._take(tps))
                except Exception:
                    if not revoking:
                        raise
                    log.exception("could not flush revoked partitions %s; their next owner re-reads them",
                                  sorted(tp.partition for tp in tps))
            finally:
                self._giving_up = False

    async def _write(self, batches: list[PartitionBatch]) -> None:
        """Dead letters, one insert and one commit per partition batch, in order."""
        for batch in batches:
            for record, reason in batch.dead:
                await self._dead_letter(record, reason)
            if batch.rows:
                await self._insert(batch)
            if self.after_insert is not None:
                self.after_insert()
            assert self._consumer is not None
            await self._consumer.commit({batch.tp: batch.next_offset})
            self._count(batch)
        self._update_lag()

    def _count(self, batch: PartitionBatch) -> None:
        stats = self.stats
        stats.rows += len(batch.rows) - batch.refused
        stats.batches += 1
        stats.duplicates_dropped += batch.duplicates
        stats.normalised += batch.normalised
        if batch.duplicates:
            metrics.CONSUMER_DUPLICATES.inc(batch.duplicates)

    async def _insert(self, batch: PartitionBatch) -> None:
        """One insert of the batch (the message bytes as they came); if ClickHouse refuses some of its
        rows, those are found and dead-lettered and the others inserted (``consumers.split_insert``)."""
        base = EMBEDDED_INSERT_SETTINGS if self.clickhouse.is_embedded else INSERT_SETTINGS

        async def insert(rows: list[bytes], token: str) -> BaseException | None:
            return await self._insert_retrying(rows, {**base, "insert_deduplication_token": token})

        refused = await insert_or_isolate(batch.rows, batch.token, insert)
        for row, reason in refused:
            value, partition, offset = split_row(row)
            source = f"{batch.tp.topic}:{partition}:{offset}"
            await self._send_dead_letter(value, _user_key(value), source, reason)
        batch.refused = len(refused)

    async def _insert_retrying(self, rows: list[bytes], settings: dict[str, object]) -> BaseException | None:
        """Insert ``rows``; an outage is retried with backoff (the partitions paused meanwhile), a
        refusal of the data is returned at once (retrying the same rows would block the partition)."""
        data = b"".join(rows)
        attempts = 0
        delay = 0.5
        while True:
            started = time.perf_counter()
            try:
                await self.clickhouse.insert_raw("usage_events", data, "JSONEachRow", settings)
            except Exception as exc:
                self.stats.insert_errors += 1
                metrics.CONSUMER_INSERT_ERRORS.inc()
                if is_data_error(exc):  # ClickHouse is up (it answered): no reason to stay paused
                    self._failing = False
                    self.stats.refused_inserts += 1
                    log.warning("ClickHouse refused an insert of %d rows: %s", len(rows), refusal_reason(exc))
                    return exc
                attempts += 1
                self._failing = True
                if (self._giving_up or self._stop.is_set()) and attempts >= REVOKE_INSERT_ATTEMPTS:
                    raise
                log.warning("ClickHouse insert of %d rows failed (%s); retry %d in %.1f s",
                            len(rows), exc, attempts, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            elapsed = time.perf_counter() - started
            self._failing = False
            self.stats.last_insert_ms = elapsed * 1000
            self.stats.insert_seconds += elapsed
            self.stats.inserts += 1
            self.stats.max_insert_rows = max(self.stats.max_insert_rows, len(rows))
            metrics.CONSUMER_ROWS.inc(len(rows))
            metrics.CONSUMER_BATCH_SECONDS.observe(elapsed)
            metrics.CONSUMER_BATCH_ROWS.observe(len(rows))
            return None

    def _pause_if(self, pause: bool) -> None:
        """Pause every partition while ClickHouse refuses inserts (or a full batch has waited for the
        writer too long); polling goes on anyway, so the group keeps this member (a poll resets
        aiokafka's max_poll_interval clock)."""
        consumer = self._consumer
        assert consumer is not None
        if pause:
            assigned = consumer.assignment()
            if assigned - consumer.paused():
                consumer.pause(*assigned)
        elif consumer.paused():
            consumer.resume(*consumer.paused())
        if self._failing != self._paused:
            self._paused = self._failing
            metrics.CONSUMER_PAUSED.set(int(self._failing))
            if self._failing:
                log.warning("paused partitions %s until ClickHouse takes inserts again",
                            sorted(tp.partition for tp in consumer.assignment()))
            else:
                log.info("ClickHouse takes inserts again")

    # ---- the dead-letter topic ----------------------------------------------------------------
    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        source = f"{record.topic}:{record.partition}:{record.offset}"
        await self._send_dead_letter(record.value or b"", record.key, source, reason)

    async def _send_dead_letter(self, value: bytes, key: bytes | None, source: str, reason: str) -> None:
        assert self._dlq is not None
        headers = [("reason", reason.encode()[:1000]), ("source", source.encode())]
        await self._dlq.send_and_wait(self.dlq_topic, value=value, key=key, headers=headers)
        self.stats.dead_letters += 1
        metrics.CONSUMER_DLQ.inc()
        log.warning("dead-lettered %s: %s", source, reason)

    # ---- the duplicate window -----------------------------------------------------------------
    def forget_recent_ids(self, partition: int) -> None:
        self._recent.pop(partition, None)

    async def _restore_recent_ids(self, partition: int) -> RecentIds:
        """Seed the duplicate filter with the ids most recently loaded from this partition."""
        delay = 0.5
        while True:
            try:
                rows = await self.clickhouse.query(
                    f"SELECT event_id AS id FROM {self.clickhouse.database}.usage_events "
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
        recent = RecentIds(RECENT_IDS_PER_PARTITION)
        recent.add_all(_as_uuid(row["id"]) for row in reversed(rows))
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
        if self._writer is not None:  # uncommitted: its rows are re-read (and the insert deduplicated)
            self._writer.cancel()
            with contextlib.suppress(BaseException):
                await self._writer
            self._writer = None
        for client in (self._consumer, self._dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._dlq = None
        self._pending.clear()
        self._held = 0
        self._oldest = None
        self._next_offsets.clear()
        self._recent.clear()
        self._failing = self._restart_needed = False
        self._paused = False
        metrics.CONSUMER_PAUSED.set(0)


def _user_key(value: bytes) -> bytes | None:
    """The Kafka key the gateway gives an event (its user_id), for a row dead-lettered at insert."""
    try:
        user_id = orjson.loads(value).get("user_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return user_id.encode() if isinstance(user_id, str) else None


def _as_uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
