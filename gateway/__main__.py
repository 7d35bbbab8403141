"""``python -m gateway <command>``: serve, migrate, setup, rotate-keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys


def _skip_httpx_command_line() -> None:
    """Keep httpx's command-line client (``httpx._main``: click, rich, pygments, ≈ 5 MB) out of the
    server: ``import httpx`` loads it only to offer ``httpx.main``, which a server never calls. A
    ``None`` entry in ``sys.modules`` makes that import fail, and httpx then defines a stub instead."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


_skip_httpx_command_line()  # before anything imports httpx; also runs in spawned workers

from gateway.logs import configure_logging  # noqa: E402
from gateway.settings import Settings  # noqa: E402


def _lean_log_records() -> None:
    """Skip the LogRecord fields our JSON lines never show (the logging HOWTO's "Optimization"):
    the caller's frame, thread, process and multiprocessing names. Each log line (one access line per
    request) then costs noticeably less."""
    logging._srcfile = None  # type: ignore[attr-defined]  # documented switch for caller lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    _lean_log_records()

    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        loop="uvloop",
        http="gateway.http_protocol:CoalescingHttpToolsProtocol",  # httptools, one write per response
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=20,
        # Client IPs drive rate limits: only believe X-Forwarded-For from proxies the operator names.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )


async def migrate(settings: Settings) -> None:
    """Apply Postgres migrations and the ClickHouse DDL."""
    from gateway.clickhouse import ClickHouse
    from gateway.db import create_pool

    pool = await create_pool(settings.database_url)
    await pool.close()
    clickhouse = ClickHouse(settings.clickhouse_url, settings.clickhouse_database)
    await clickhouse.apply_schema()
    await clickhouse.close()
    print("migrations applied")


async def setup(settings: Settings) -> None:
    """Prepare external infrastructure: Kafka topics and the ClickHouse schema."""
    from gateway.events.topics import ensure_topics

    await ensure_topics(
        settings.kafka_bootstrap_servers,
        {settings.usage_topic: settings.usage_topic_partitions, settings.usage_dlq_topic: 1},
    )
    await migrate(settings)
    print(f"topics ready on {settings.kafka_bootstrap_servers}")


async def rotate_keys(settings: Settings) -> None:
    from gateway.db import create_pool
    from gateway.keys.provider_keys import rotate_provider_keys
    from gateway.keys.provider_store import KeyRotationError

    pool = await create_pool(settings.database_url)
    try:
        count = await rotate_provider_keys(pool, settings)
    except KeyRotationError as exc:
        raise SystemExit(f"rotate-keys: {exc}") from None
    finally:
        await pool.close()
    print(f"re-encrypted {count} provider key(s) under the current master key")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="serve the gateway with uvicorn")
    serve_cmd.add_argument("--workers", type=int, default=1)
    sub.add_parser("migrate", help="apply Postgres migrations and ClickHouse DDL")
    sub.add_parser("setup", help="create Kafka topics and apply all schemas (external clusters)")
    sub.add_parser("rotate-keys", help="re-encrypt provider keys under the first MASTER_KEYS entry")
    args = parser.parse_args(argv)
    configure_logging()
    settings = Settings.from_env()
    settings.check_production_secrets()
    if args.command == "serve":
        serve(settings, args.workers)
    elif args.command == "migrate":
        asyncio.run(migrate(settings))
    elif args.command == "setup":
        asyncio.run(setup(settings))
    elif args.command == "rotate-keys":
        asyncio.run(rotate_keys(settings))
    else:  # pragma: no cover - argparse rejects unknown commands
        sys.exit(2)


if __name__ == "__main__":
    main()
