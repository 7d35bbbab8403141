"""Switchyard's production topology for the benchmark.

Postgres, Kafka and Redis from the local stack; the usage loader as its own process (``python -m
consumers``) with its own chdb path; gateways started with ``RUN_CONSUMER_IN_PROCESS=false`` and a
different chdb path. ``usage_check`` proves that every usage event the gateways produced reached
ClickHouse once the loader has drained the topic.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.compare.procs import Child
from bench.compare.targets import MOCK_KEY

if TYPE_CHECKING:
    from infra.stack import StackPorts

# Offsets from the stack's first port (the benchmark's range, so it runs beside `make run` and the tests).
STACK_PORT_OFFSETS = dict(
    postgres=0,
    kafka=1,
    kafka_controller=2,
    openai=3,
    anthropic=4,
    google=5,
    redis=6,
)
DEFAULT_STACK_PORT_BASE = 19830
VERY_HIGH_LIMIT = "1000000000"  # requests per minute: exercised on every request, never rejects


@dataclass
class SwitchyardStack:
    data_dir: Path
    mock_url: str
    env: dict[str, str] = field(default_factory=dict)
    port_base: int = DEFAULT_STACK_PORT_BASE
    key: str = ""
    group_id: str = ""
    consumer: Child | None = None
    _stack: object = None

    @property
    def consumer_chdb(self) -> Path:
        return self.data_dir / "clickhouse-consumer"

    @property
    def gateway_chdb(self) -> Path:
        return self.data_dir / "clickhouse-gateway"

    def ports(self) -> StackPorts:
        from infra.stack import StackPorts

        return StackPorts(**{name: self.port_base + offset for name, offset in STACK_PORT_OFFSETS.items()})

    def start(self) -> None:
        from infra.run import ensure_demo_account
        from infra.stack import LocalStack

        # Fresh Kafka topic and ClickHouse tables every run, so the usage check counts this run only.
        for stale in (
            self.data_dir / "stack" / "kafka",
            self.consumer_chdb,
            self.gateway_chdb,
            self.data_dir / "spool",
        ):
            shutil.rmtree(stale, ignore_errors=True)
        stack = LocalStack(
            self.data_dir / "stack", self.ports(), services=("postgres", "kafka", "redis")
        )
        self._stack = stack
        endpoints = stack.start()
        self.group_id = f"bench-loader-{int(time.time())}"
        self.env = {
            **endpoints.as_env(),
            "OPENAI_BASE_URL": f"{self.mock_url}/v1",
            "OPENAI_API_KEY": MOCK_KEY,
            "ANTHROPIC_API_KEY": "",
            "GOOGLE_API_KEY": "",
            "SWITCHYARD_DATA_DIR": str(self.data_dir / "gateway"),
            "SPOOL_DIR": str(self.data_dir / "spool"),
            "CLICKHOUSE_URL": f"chdb://{self.gateway_chdb}",
            "RUN_CONSUMER_IN_PROCESS": "false",
            "RATE_LIMIT_PER_KEY": VERY_HIGH_LIMIT,
            "RATE_LIMIT_PER_IP": VERY_HIGH_LIMIT,
            # Every bench request is identical: with the response cache on, all but the first would be
            # cache hits and the upstream path would not be measured (LiteLLM and Portkey cache nothing).
            "CACHE_ENABLED": "false",
        }
        self.key = asyncio.run(ensure_demo_account(self.env["DATABASE_URL"]))
        consumer_env = {
            **os.environ,
            **self.env,
            "CLICKHOUSE_URL": f"chdb://{self.consumer_chdb}",
            "LOADER_GROUP_ID": self.group_id,
        }
        self.consumer = Child(
            "consumer",
            [sys.executable, "-m", "consumers"],
            self.data_dir / "logs" / "consumer.log",
            env=consumer_env,
        )

    def kafka_end_offsets(self) -> int:
        """Messages on the usage topic (sum of every partition's end offset)."""
        return asyncio.run(_kafka_counts(self.env["KAFKA_BOOTSTRAP_SERVERS"], self.group_id))[0]

    def usage_check(self, gateway_emitted: int | None, drain_timeout: float = 180) -> dict[str, object]:
        """Wait until the loader committed every message, stop it, then count ClickHouse rows."""
        bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        deadline = time.monotonic() + drain_timeout
        end, committed = asyncio.run(_kafka_counts(bootstrap, self.group_id))
        while committed < end and time.monotonic() < deadline:
            if self.consumer is None or not self.consumer.alive():
                break
            time.sleep(1)
            end, committed = asyncio.run(_kafka_counts(bootstrap, self.group_id))
        if self.consumer is not None:
            self.consumer.stop(timeout=60)
            self.consumer = None
        rows = count_rows(self.consumer_chdb)
        result: dict[str, object] = {
            "gateway_events_emitted": gateway_emitted,
            "kafka_messages": end,
            "loader_committed": committed,
            "clickhouse_rows": rows,
            "drained": committed >= end,
        }
        result["no_lost_events"] = rows == end and (gateway_emitted is None or rows >= gateway_emitted)
        return result

    def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stop(timeout=60)
            self.consumer = None
        if self._stack is not None:
            self._stack.stop()  # type: ignore[attr-defined]


async def _kafka_counts(bootstrap: str, group_id: str) -> tuple[int, int]:
    """(sum of end offsets, sum of the loader group's committed offsets) for the usage topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = os.environ.get("USAGE_TOPIC", "usage-events")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        committed = 0
        for tp in partitions:
            committed += await consumer.committed(tp) or 0
        return sum(ends.values()), committed
    finally:
        await consumer.stop()


_COUNT_SCRIPT = """
import asyncio, json, sys
from gateway.clickhouse import ClickHouse
async def main():
    ch = ClickHouse(sys.argv[1], "switchyard")
    rows = await ch.query("SELECT count() AS n FROM usage_events")
    await ch.close()
    print(json.dumps(int(rows[0]["n"])))
asyncio.run(main())
"""


def count_rows(chdb_path: Path) -> int:
    """Rows in ``usage_events``, read in a fresh process (chdb: one engine per process)."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_SCRIPT, f"chdb://{chdb_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"counting ClickHouse rows failed:\n{out.stderr[-2000:]}")
    return int(json.loads(out.stdout.strip().splitlines()[-1]))
