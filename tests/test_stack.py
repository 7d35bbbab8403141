"""The local stack runs real Postgres and Kafka, survives restarts and crashes, and leaves no children."""

from __future__ import annotations

import asyncio
import os
import socket
import urllib.request
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.stack import LocalStack, StackError, StackPorts

TOPIC = "stack-roundtrip"


def _child_pids() -> set[int]:
    """Our descendants; a stack started by other tests of the session may already own some."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def _select_one(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def _create_topic_and_produce(bootstrap: str, value: bytes) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
        # The broker answers create_topics before its metadata shows the partitions: poll briefly.
        partitions: list = []
        for _ in range(50):
            partitions = (await admin.describe_topics([TOPIC]))[0]["partitions"]
            if partitions:
                break
            await asyncio.sleep(0.1)
        assert len(partitions) == 3
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value, partition=1)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str) -> list[bytes]:
    """Every message of the topic, from the beginning of all partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, index) for index in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end_offsets = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        for _ in range(30):
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= end_offsets[tp] for tp in partitions):
                break
            batches = await consumer.getmany(timeout_ms=1000)
            values += [record.value for records in batches.values() for record in records]
        return values
    finally:
        await consumer.stop()


def test_postgres_and_kafka_round_trip_restart_and_clean_stop(tmp_path: Path) -> None:
    ports = StackPorts.free()
    stack = LocalStack(tmp_path / "data", ports, services=("postgres", "kafka"))
    value = os.urandom(8).hex().encode()
    children_before = _child_pids()
    try:
        endpoints = stack.start()
        assert endpoints.database_url == f"postgresql://postgres@127.0.0.1:{ports.postgres}/switchyard"
        assert endpoints.as_env()["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{ports.kafka}"
        assert asyncio.run(_select_one(endpoints.database_url)) == 1

        bootstrap = endpoints.kafka_bootstrap_servers
        asyncio.run(_create_topic_and_produce(bootstrap, value))
        assert asyncio.run(_read_all(bootstrap)) == [value]

        stack.stop_service("kafka")
        assert not _accepts(ports.kafka)
        assert not _accepts(ports.kafka_controller)

        stack.start_service("kafka")
        assert asyncio.run(_read_all(bootstrap)) == [value]
        assert (tmp_path / "data" / "logs" / "kafka.log").stat().st_size > 0

        stack.kill_service("postgres")  # a crash leaves a stale postmaster.pid behind
        assert (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
        stack.start_service("postgres")
        assert asyncio.run(_select_one(endpoints.database_url)) == 1
    finally:
        stack.stop()
    stack.stop()  # idempotent
    assert _child_pids() - children_before == set()
    assert not _accepts(ports.postgres)
    assert not _accepts(ports.kafka)


def test_refuses_a_port_that_is_already_taken(tmp_path: Path) -> None:
    children_before = _child_pids()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        stack = LocalStack(tmp_path, StackPorts(postgres=taken), services=("postgres",))
        with pytest.raises(StackError, match=f"port {taken} .* needed by postgres"):
            stack.start()
    assert _child_pids() - children_before == set()


def test_database_url_given_means_postgres_is_not_started(tmp_path: Path) -> None:
    url = "postgresql://someone@db.internal:5432/elsewhere"
    stack = LocalStack(tmp_path, StackPorts.free(), services=("postgres",), database_url=url)
    assert stack.start().database_url == url
    assert stack.services == {}
    assert not (tmp_path / "postgres").exists()
    stack.stop()


def _health(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url.removesuffix('/v1')}/health", timeout=5) as response:
        return response.status


def test_simulators_start_stop_and_restart_one_provider(tmp_path: Path) -> None:
    ports = StackPorts.free()
    stack = LocalStack(tmp_path, ports, services=("simulators",))
    children_before = _child_pids()
    try:
        endpoints = stack.start()
        assert endpoints.openai_base_url == f"http://127.0.0.1:{ports.openai}/v1"
        bases = [endpoints.openai_base_url, endpoints.anthropic_base_url, endpoints.google_base_url]
        assert [_health(base) for base in bases] == [200, 200, 200]

        stack.stop_service("anthropic")
        assert not _accepts(ports.anthropic)
        assert _health(endpoints.openai_base_url) == 200
        stack.start_service("anthropic")
        assert _health(endpoints.anthropic_base_url) == 200

        stack.kill_service("google")
        assert not _accepts(ports.google)
    finally:
        stack.stop()
    assert _child_pids() - children_before == set()
    assert (tmp_path / "logs" / "openai.log").exists()
