"""``python -m consumers``: run the usage loader as its own process (production topology).

Reads the same environment as the gateway (KAFKA_BOOTSTRAP_SERVERS, CLICKHOUSE_URL, USAGE_TOPIC, ...),
plus LOADER_BATCH_ROWS / LOADER_BATCH_SECONDS / LOADER_LINGER_SECONDS / LOADER_GROUP_ID (see
consumers/flush_policy.py). SIGINT/SIGTERM flush and exit.
"""

from __future__ import annotations

import asyncio
import os
import signal

from consumers.flush_policy import DEFAULT_POLICY
from consumers.loader import GROUP_ID, UsageLoader
from gateway.clickhouse import ClickHouse
from gateway.events.topics import ensure_topics
from gateway.logs import configure_logging
from gateway.settings import Settings

# Fault injection for the crash tests only: SIGKILL this process right after its first insert,
# before the offsets are committed.
CRASH_AFTER_INSERT_ENV = "SWITCHYARD_TEST_CRASH_AFTER_INSERT"


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main() -> None:
    settings = Settings.from_env()
    configure_logging()
    clickhouse = ClickHouse(settings.clickhouse_url, settings.clickhouse_database)
    await clickhouse.apply_schema()
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        {settings.usage_topic: settings.usage_topic_partitions, settings.usage_dlq_topic: 1},
    )
    loader = UsageLoader(
        clickhouse,
        settings.kafka_bootstrap_servers,
        settings.usage_topic,
        settings.usage_dlq_topic,
        group_id=os.environ.get("LOADER_GROUP_ID", GROUP_ID),
        batch_rows=int(os.environ.get("LOADER_BATCH_ROWS", str(DEFAULT_POLICY.max_rows))),
        batch_seconds=float(os.environ.get("LOADER_BATCH_SECONDS", str(DEFAULT_POLICY.max_seconds))),
        linger_seconds=float(os.environ.get("LOADER_LINGER_SECONDS", str(DEFAULT_POLICY.linger_seconds))),
        after_insert=_crash if os.environ.get(CRASH_AFTER_INSERT_ENV) == "1" else None,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loader.stop)
    try:
        await loader.run()
    finally:
        await clickhouse.close()


if __name__ == "__main__":
    asyncio.run(main())
