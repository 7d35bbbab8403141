"""Deliver usage events to Kafka without ever blocking a response or losing an event.

``emit()`` serialises the event and appends it to a bounded in-memory buffer; nothing else happens on
the request path. One background task moves events on, always oldest first:

* the disk spool, if it holds anything, is replayed (oldest segment first) before any newer event;
* otherwise up to ``BATCH_MAX`` buffered events are taken, grouped per partition (key = user_id, Java
  murmur2 partitioner, so per-user order holds) and sent as record batches (acks=all, lz4);
* if Kafka is unreachable, slow or fails a send, the events that were not acknowledged go to the spool
  under a segment number reserved when they were taken, so disk order stays emit order.

Every step that talks to Kafka (metadata, batch hand-off, acknowledgements) runs under one timeout, so
a broker outage can slow delivery but never wedge it. The non-idempotent producer is used on purpose
(aiokafka's idempotent producer can hang after a broker outage); a re-sent event is dropped by the
consumer on ``event_id``. ``stop()`` flushes to Kafka if it can, else everything lands in the spool and
the next start replays it. The only loss is a full (or unwritable) spool, which is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from gateway import metrics
from gateway.events.spool import Record, Spool, SpoolFull
from schemas import UsageEvent

log = logging.getLogger("switchyard.producer")

BATCH_MAX = 5000
LINGER_S = 0.005
SEND_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 2.0
MAX_BATCH_BYTES = 512 * 1024


class UsageProducer:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        spool_dir: Path,
        buffer_size: int = 100_000,
        spool_max_bytes: int = 1 << 30,
        send_timeout_s: float = SEND_TIMEOUT_S,
        retry_interval_s: float = RETRY_INTERVAL_S,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.buffer: deque[Record] = deque()
        self.buffer_size = buffer_size
        self.spool = Spool(spool_dir, spool_max_bytes)
        self.send_timeout_s = send_timeout_s
        self.retry_interval_s = retry_interval_s
        self._kafka: AIOKafkaProducer | None = None
        self._partition_cache: dict[bytes, int] = {}
        self._partition_count = 0
        self._wakeup = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: tuple[int, list[Record]] | None = None  # (reserved spool segment, records)
        self.emitted = 0
        self.delivered = 0
        self.spooled = 0
        self.dropped = 0

    # ---- the hot path -------------------------------------------------------------------------
    def emit(self, event: UsageEvent) -> None:
        """Queue one event for delivery. Never blocks on the network, never raises."""
        try:
            value = event.to_bytes()
        except Exception:  # pragma: no cover - a validated model always serialises
            log.exception("usage event %s could not be serialised", event.event_id)
            self.dropped += 1
            return
        self.emit_record(str(event.user_id).encode(), value)

    def emit_record(self, key: bytes, value: bytes) -> None:
        """Queue one rendered event (key: the user id, value: ``UsageEvent.to_bytes()``'s bytes).

        The request path's entry (``gateway.events.usage_record`` renders the bytes). Never blocks on
        the network, never raises.
        """
        if len(self.buffer) >= self.buffer_size:
            # Kafka has not kept up for a long while: move the whole backlog to disk, in order.
            self._spool_buffer()
        self.buffer.append((key, value))
        self.emitted += 1
        if not self._wakeup.is_set():
            self._wakeup.set()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.spool.is_empty():
            log.info("usage spool holds %d segment(s) from before; replaying", self.spool.segment_count)
        metrics.SPOOL_BYTES.set(self.spool.size_bytes)
        self._task = asyncio.create_task(self._run(), name="usage-producer")

    async def stop(self, timeout: float = 15.0) -> None:
        """Flush everything: to Kafka if it is reachable within the timeout, else to the spool."""
        self._stop_requested.set()
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
            except BaseException:
                log.exception("usage producer task failed")
        self._spool_in_flight()
        self._spool_buffer()
        await self._close_kafka()
        log.info(
            "usage producer stopped: %d emitted, %d delivered, %d spooled, %d lost, spool %d bytes",
            self.emitted, self.delivered, self.spooled, self.dropped, self.spool.size_bytes,
        )

    @property
    def connected(self) -> bool:
        return self._kafka is not None

    @property
    def pending(self) -> int:
        """Events held in memory (buffer and in flight); the spool is counted in bytes separately."""
        return len(self.buffer) + (len(self._in_flight[1]) if self._in_flight else 0)

    # ---- background delivery ------------------------------------------------------------------
    async def _run(self) -> None:
        stopping = self._stop_requested
        reported = 0
        while True:
            metrics.PRODUCER_BUFFERED.set(len(self.buffer))
            metrics.EVENTS_EMITTED.inc(self.emitted - reported)  # counted here, off the request path
            reported = self.emitted
            if not self.buffer and self.spool.is_empty():
                if stopping.is_set():
                    return
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
                if len(self.buffer) < BATCH_MAX and not stopping.is_set():
                    await asyncio.sleep(LINGER_S)  # let a burst collect into one batch
                continue
            if not await self._ensure_kafka() or not await self._replay_spool():
                await self._close_kafka()
                self._spool_buffer()
                if stopping.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.retry_interval_s)
                if stopping.is_set():  # one last try to flush
                    if await self._ensure_kafka() and await self._replay_spool():
                        await self._drain_buffer()
                    return
                continue
            await self._drain_buffer()

    async def _drain_buffer(self) -> None:
        """Send buffered events in batches until the buffer is empty or a send fails."""
        while self.buffer and self.spool.is_empty():
            batch = [self.buffer.popleft() for _ in range(min(BATCH_MAX, len(self.buffer)))]
            self._in_flight = (self.spool.reserve(), batch)
            failed = await self._send(batch)
            slot = self._in_flight[0]
            self._in_flight = None
            if failed:
                self._spool_records(failed, slot)
                return

    def _spool_in_flight(self) -> None:
        if self._in_flight is not None:
            slot, records = self._in_flight
            self._in_flight = None
            self._spool_records(records, slot)

    def _spool_buffer(self) -> None:
        if self.buffer:
            records = list(self.buffer)
            self.buffer.clear()
            self._spool_records(records)

    def _spool_records(self, records: list[Record], slot: int | None = None) -> None:
        try:
            self.spool.append(records, slot)
            self.spooled += len(records)
            metrics.EVENTS_SPOOLED.inc(len(records))
            metrics.SPOOL_FULL.set(0)
        except SpoolFull:
            self.dropped += len(records)
            metrics.SPOOL_DROPPED.inc(len(records))
            metrics.SPOOL_FULL.set(1)
            log.error("USAGE EVENTS LOST: spool is full, %d events could not be kept", len(records))
        except OSError:
            self.dropped += len(records)
            metrics.SPOOL_DROPPED.inc(len(records))
            log.exception("USAGE EVENTS LOST: spool write failed, %d events could not be kept", len(records))
        metrics.SPOOL_BYTES.set(self.spool.size_bytes)

    async def _replay_spool(self) -> bool:
        """Send spooled segments oldest first; False (segment kept) on the first failure."""
        while (segment := self.spool.first()) is not None:
            number, records = segment
            for start in range(0, len(records), BATCH_MAX):
                failed = await self._send(records[start : start + BATCH_MAX])
                if failed:
                    # Delivered parts of this segment will be re-sent; the consumer drops them by id.
                    return False
            self.spool.remove(number)
            metrics.SPOOL_BYTES.set(self.spool.size_bytes)
            log.info("replayed spool segment %d (%d events)", number, len(records))
        return True

    async def _send(self, batch: list[Record]) -> list[Record]:
        """Send one batch; returns the records NOT acknowledged (empty on success)."""
        started = time.perf_counter()
        pending: list[tuple[asyncio.Future[object] | None, list[Record]]] = []
        try:
            await asyncio.wait_for(self._send_batches(batch, pending), self.send_timeout_s)
        except Exception as exc:
            failed = [r for fut, records in pending if not _succeeded(fut) for r in records]
            sent = {id(r) for _, records in pending for r in records}
            failed += [r for r in batch if id(r) not in sent]
            log.warning("kafka send failed (%s: %s); %d of %d events to the spool",
                        type(exc).__name__, exc, len(failed), len(batch))
            await self._close_kafka()
            return failed
        self.delivered += len(batch)
        metrics.EVENTS_DELIVERED.inc(len(batch))
        metrics.PRODUCER_SEND_SECONDS.observe(time.perf_counter() - started)
        return []

    async def _send_batches(
        self, batch: list[Record], pending: list[tuple[asyncio.Future[object] | None, list[Record]]]
    ) -> None:
        kafka = self._kafka
        assert kafka is not None
        partitions = sorted(await kafka.partitions_for(self.topic))
        by_partition: dict[int, list[Record]] = {}
        for record in batch:
            by_partition.setdefault(self._partition_of(record[0], partitions), []).append(record)
        for partition, records in by_partition.items():
            builder, chunk = kafka.create_batch(), []
            for key, value in records:
                if builder.append(key=key, value=value, timestamp=None) is None:
                    await self._submit(kafka, builder, partition, chunk, pending)
                    builder, chunk = kafka.create_batch(), []
                    builder.append(key=key, value=value, timestamp=None)
                chunk.append((key, value))
            await self._submit(kafka, builder, partition, chunk, pending)
        await asyncio.gather(*(fut for fut, _ in pending if fut is not None))

    async def _submit(
        self,
        kafka: AIOKafkaProducer,
        builder: object,
        partition: int,
        chunk: list[Record],
        pending: list[tuple[asyncio.Future[object] | None, list[Record]]],
    ) -> None:
        """Hand one record batch to aiokafka; ``pending`` lists it (future unset until accepted)."""
        pending.append((None, chunk))
        future = await kafka.send_batch(builder, self.topic, partition=partition)
        future.add_done_callback(_retrieve_exception)  # a failure is handled via ``pending``
        pending[-1] = (future, chunk)

    def _partition_of(self, key: bytes, partitions: list[int]) -> int:
        """The Java client's default partitioner (murmur2), cached per user."""
        if len(partitions) != self._partition_count:
            self._partition_cache.clear()
            self._partition_count = len(partitions)
        partition = self._partition_cache.get(key)
        if partition is None:
            partition = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
            if len(self._partition_cache) > 100_000:
                self._partition_cache.clear()
            self._partition_cache[key] = partition
        return partition

    async def _ensure_kafka(self) -> bool:
        if self._kafka is not None:
            return True
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            acks="all",
            compression_type="lz4",
            linger_ms=5,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=4 * MAX_BATCH_BYTES,
            request_timeout_ms=int(self.send_timeout_s * 1000),
            retry_backoff_ms=200,
            enable_idempotence=False,
        )
        try:
            await asyncio.wait_for(producer.start(), self.send_timeout_s)
        except Exception as exc:
            log.warning("kafka unreachable at %s: %s", self.bootstrap_servers, exc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
            return False
        self._kafka = producer
        log.info("usage producer connected to %s", self.bootstrap_servers)
        return True

    async def _close_kafka(self) -> None:
        producer, self._kafka = self._kafka, None
        if producer is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(producer.stop(), 5)


def _succeeded(future: asyncio.Future[object] | None) -> bool:
    return future is not None and future.done() and not future.cancelled() and future.exception() is None


def _retrieve_exception(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()
