"""``python -m consumers``: run the usage loader as its own process (production topology)."""

from __future__ import annotations

import asyncio
import logging
import signal

from consumers.loader import UsageLoader
from gateway.clickhouse import ClickHouse
from gateway.events.topics import ensure_topics
from gateway.logs import configure_logging
from gateway.settings import Settings


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
        clickhouse, settings.kafka_bootstrap_servers, settings.usage_topic, settings.usage_dlq_topic
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loader.stop)
    await loader.run()
    await clickhouse.close()


if __name__ == "__main__":
    logging.getLogger(__name__)
    asyncio.run(main())
