"""Deliver usage events to Kafka without ever blocking a response or losing an event.

``emit()`` only appends to a bounded in-memory buffer. A background task sends batches with aiokafka
(acks=all, lz4, linger). When Kafka is down or slow, batches go to the disk spool, and everything new
follows them there until the spool has been replayed in order; then direct sending resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path

from aiokafka import AIOKafkaProducer

from gateway import metrics
from gateway.events.spool import Record, Spool, SpoolFull
from schemas import UsageEvent

log = logging.getLogger("switchyard.producer")

BATCH_MAX = 2000
SEND_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 2.0


class UsageProducer:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        spool_dir: Path,
        buffer_size: int = 100_000,
        spool_max_bytes: int = 1 << 30,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.buffer: deque[Record] = deque()
        self.buffer_size = buffer_size
        self.spool = Spool(spool_dir, spool_max_bytes)
        self._kafka: AIOKafkaProducer | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.delivered = 0
        self.spooled = 0
        self.dropped = 0

    # ---- the hot path -------------------------------------------------------------------------
    def emit(self, event: UsageEvent) -> None:
        """Queue one event for delivery. Never blocks, never raises."""
        record = (str(event.user_id).encode(), event.to_bytes())
        if len(self.buffer) >= self.buffer_size:
            self._spool_now([record])
        else:
            self.buffer.append(record)
        if not self._wakeup.is_set():
            self._wakeup.set()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-producer")

    async def stop(self, timeout: float = 15.0) -> None:
        """Flush everything: to Kafka if it is reachable within the timeout, else to the spool."""
        self._stopping = True
        self._wakeup.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, timeout)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if self.buffer:
            self._spool_now(list(self.buffer))
            self.buffer.clear()
        await self._close_kafka()

    @property
    def connected(self) -> bool:
        return self._kafka is not None

    # ---- background delivery ------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self.buffer and self.spool.is_empty():
                if self._stopping:
                    return
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
                continue
            if not await self._ensure_kafka():
                self._spool_buffer()
                if self._stopping:
                    return
                await asyncio.sleep(RETRY_INTERVAL_S)
                continue
            if not self.spool.is_empty() and not await self._replay_spool():
                self._spool_buffer()
                if self._stopping:
                    return
                await asyncio.sleep(RETRY_INTERVAL_S)
                continue
            batch = self._take(BATCH_MAX)
            if batch and not await self._send(batch):
                self._spool_now(batch)

    def _take(self, n: int) -> list[Record]:
        batch = []
        while self.buffer and len(batch) < n:
            batch.append(self.buffer.popleft())
        return batch

    def _spool_buffer(self) -> None:
        while self.buffer:
            self._spool_now(self._take(BATCH_MAX))

    def _spool_now(self, records: list[Record]) -> None:
        try:
            self.spool.append(records)
            self.spooled += len(records)
        except SpoolFull:
            self.dropped += len(records)
            metrics.SPOOL_DROPPED.inc(len(records))
            log.error("usage spool is full: %d events could not be kept", len(records))
        except OSError:
            self.dropped += len(records)
            metrics.SPOOL_DROPPED.inc(len(records))
            log.exception("usage spool write failed: %d events could not be kept", len(records))
        metrics.SPOOL_BYTES.set(self.spool.size_bytes)

    async def _replay_spool(self) -> bool:
        for path, records in self.spool.segments():
            for start in range(0, len(records), BATCH_MAX):
                if not await self._send(records[start : start + BATCH_MAX]):
                    return False
            self.spool.remove(path)
            metrics.SPOOL_BYTES.set(self.spool.size_bytes)
            log.info("replayed spool segment %s (%d events)", path.name, len(records))
        return True

    async def _send(self, batch: list[Record]) -> bool:
        assert self._kafka is not None
        started = time.perf_counter()
        try:
            futures = [await self._kafka.send(self.topic, value=v, key=k) for k, v in batch]
            await asyncio.wait_for(asyncio.gather(*futures), SEND_TIMEOUT_S)
        except Exception as exc:
            log.warning("kafka send of %d events failed (%s); spooling", len(batch), exc)
            await self._close_kafka()
            return False
        self.delivered += len(batch)
        metrics.EVENTS_DELIVERED.inc(len(batch))
        metrics.PRODUCER_SEND_SECONDS.observe(time.perf_counter() - started)
        return True

    async def _ensure_kafka(self) -> bool:
        if self._kafka is not None:
            return True
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            acks="all",
            compression_type="lz4",
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
            retry_backoff_ms=200,
            enable_idempotence=False,
        )
        try:
            await asyncio.wait_for(producer.start(), SEND_TIMEOUT_S)
        except Exception as exc:
            log.warning("kafka unreachable at %s: %s", self.bootstrap_servers, exc)
            with contextlib.suppress(Exception):
                await producer.stop()
            return False
        self._kafka = producer
        return True

    async def _close_kafka(self) -> None:
        producer, self._kafka = self._kafka, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
