"""Helpers for the usage-pipeline tests: real Kafka (the session stack), real chdb (in subprocesses:
the test process already holds the gateway's engine), unique topics per test."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from gateway.events.topics import ensure_topics
from infra.stack import Endpoints
from schemas import Attempt, UsageEvent

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("chdb_worker.py")
PARTITIONS = 6


@dataclass(frozen=True)
class Topics:
    bootstrap: str
    name: str
    dlq: str


@pytest.fixture()
def topics(endpoints: Endpoints) -> Topics:
    """A fresh usage topic (6 partitions) and dead-letter topic on the session's Kafka."""
    name = f"usage-test-{uuid.uuid4().hex[:10]}"
    created = Topics(endpoints.kafka_bootstrap_servers, name, f"{name}-dlq")
    asyncio.run(ensure_topics(created.bootstrap, {created.name: PARTITIONS, created.dlq: 1}))
    return created


def make_event(user_id: uuid.UUID, i: int, **fields: Any) -> UsageEvent:
    """A realistic event whose ``request_id`` carries ``i`` (to check order and completeness)."""
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC) + timedelta(seconds=i)
    values: dict[str, Any] = {
        "request_id": f"req-{i:07d}",
        "user_id": user_id,
        "gateway_key_id": uuid.uuid5(user_id, "key"),
        "received_at": at,
        "first_token_at": at + timedelta(milliseconds=120),
        "finished_at": at + timedelta(milliseconds=800),
        "requested_model": "auto",
        "routed_model": ("gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash")[i % 3],
        "provider": ("openai", "anthropic", "google")[i % 3],
        "complexity": ("simple", "moderate", "complex")[i % 3],
        "stream": i % 2 == 0,
        "input_tokens": 100 + i % 50,
        "cached_input_tokens": i % 10,
        "output_tokens": 20 + i % 30,
        "cost_usd": Decimal(i % 1000 + 1) / Decimal(10**9),
        "latency_ms": 800.0 + i % 7,
        "ttft_ms": 120.0,
        "cache_hit": i % 4 == 0,
        "attempts": [Attempt(model="gpt-4o-mini", provider="openai", outcome="ok", latency_ms=790.0,
                             http_status=200)],
        "client_ip_hash": "9f2c1a",
        "user_agent": "pytest",
    }
    values.update(fields)
    return UsageEvent(**values)


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float = 60, settle: float = 1.0
) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning: waits for ``expected``, then ``settle`` seconds
    more so that surplus records (duplicates) show up too."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < (settle_until or deadline):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            if settle_until is None and len(records) >= expected:
                settle_until = time.monotonic() + settle
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.force_metadata_update()  # the public API has no refresh
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} has no partitions")


async def wait_committed(bootstrap: str, topic: str, group: str, timeout: float = 120) -> bool:
    """True once ``group`` has committed the end offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            committed = {tp: await consumer.committed(tp) for tp in tps}
            if all((committed[tp] or 0) >= ends[tp] for tp in tps):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()


async def group_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has right now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        return sum(len(g["members"]) for g in response.to_object()["groups"])
    finally:
        await admin.close()


def chdb(url: str, database: str, actions: list[dict[str, Any]]) -> list[Any]:
    """Run ``actions`` against a chdb path in a child process (see chdb_worker.py)."""
    done = subprocess.run(
        [sys.executable, str(WORKER)],
        input=json.dumps({"url": url, "database": database, "actions": actions}),
        capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def chdb_query(
    url: str, database: str, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return chdb(url, database, [{"query": sql, "params": params or {}}])[0]


def insert_action(rows: bytes, settings: dict[str, Any]) -> dict[str, Any]:
    return {"insert": [base64.b64encode(rows).decode(), settings]}


class LoaderProcess:
    """``python -m consumers`` as a real child process with its own chdb path."""

    def __init__(
        self, topics: Topics, chdb_path: Path, log_path: Path, *, group: str,
        crash_after_insert: bool = False, batch_seconds: float = 0.5, database: str = "usage",
    ) -> None:
        self.url = f"chdb://{chdb_path}"
        self.database = database
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap,
            "USAGE_TOPIC": topics.name,
            "USAGE_DLQ_TOPIC": topics.dlq,
            "USAGE_TOPIC_PARTITIONS": str(PARTITIONS),
            "CLICKHOUSE_URL": self.url,
            "CLICKHOUSE_DATABASE": database,
            "LOADER_GROUP_ID": group,
            "LOADER_BATCH_SECONDS": str(batch_seconds),
            "SWITCHYARD_DATA_DIR": str(chdb_path.parent),
        }
        if crash_after_insert:
            self.env["SWITCHYARD_TEST_CRASH_AFTER_INSERT"] = "1"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LoaderProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen([sys.executable, "-m", "consumers"], cwd=REPO, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM: the loader flushes, commits and exits."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@pytest.fixture()
def loaders() -> Iterator[list[LoaderProcess]]:
    """Loader processes a test starts; any still running at the end are killed."""
    started: list[LoaderProcess] = []
    yield started
    for loader in started:
        if loader.process is not None and loader.process.poll() is None:
            loader.process.kill()
            loader.process.wait(10)
