"""Create the usage topics if they do not exist (idempotent; safe on every start).

Called by the app on start (so the local stack gets them) and by ``python -m gateway setup`` for
external clusters. An existing topic is never altered; one with fewer partitions than asked for is
reported, since adding partitions would move users to other partitions.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

log = logging.getLogger("switchyard.topics")

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str, topics: dict[str, int], replication_factor: int = 1, timeout_s: float = 30
) -> None:
    """``topics`` maps name -> partitions. Retries until the broker answers or the timeout passes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            await _create_missing(admin, topics, replication_factor)
            return
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap_servers} is not reachable: {exc}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def _create_missing(
    admin: AIOKafkaAdminClient, topics: dict[str, int], replication_factor: int
) -> None:
    existing = set(await admin.list_topics())
    missing = [NewTopic(name, n, replication_factor) for name, n in topics.items() if name not in existing]
    if missing:
        response = await admin.create_topics(missing)
        for name, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise for_code(code)(f"creating topic {name}: {rest[0] if rest else ''}")
        log.info("created topics %s", [t.name for t in missing])
    present = [name for name in topics if name in existing]
    if present:
        for meta in await admin.describe_topics(present):
            have, want = len(meta["partitions"]), topics[meta["topic"]]
            if have < want:
                log.warning("topic %s has %d partitions, %d configured", meta["topic"], have, want)
