"""Create the usage topics if they do not exist (idempotent; safe on every start)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger("switchyard.topics")


async def ensure_topics(
    bootstrap_servers: str, topics: dict[str, int], replication_factor: int = 1, timeout_s: float = 30
) -> None:
    """``topics`` maps name -> partitions. Retries until the broker answers or the timeout passes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, partitions, replication_factor)
                for name, partitions in topics.items()
                if name not in existing
            ]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
                log.info("created topics %s", [t.name for t in missing])
            return
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap_servers} is not reachable: {exc}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
