"""ClickHouse access for the gateway and the consumers: one client, same SQL on chdb and on a server.

``CLICKHOUSE_URL=chdb:///path`` runs the engine in-process (one engine per process, so every call goes
through one worker thread); ``http://user:pass@host:8123`` talks to a ClickHouse server.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger("switchyard.clickhouse")


def schema_statements(database: str) -> list[str]:
    """The DDL under infra/clickhouse, in file order, with the database name filled in."""
    folder = resources.files("infra") / "clickhouse"
    statements: list[str] = []
    for f in sorted(p for p in folder.iterdir() if p.name.endswith(".sql")):
        text = f.read_text().replace("{database}", database)
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
        statements += [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return statements


def retention_statements(database: str, ttl_days: str | None = None) -> list[str]:
    """``ALTER TABLE ... MODIFY TTL`` for the usage tables when ``USAGE_TTL_DAYS`` is set (else none)."""
    days = ttl_days if ttl_days is not None else os.environ.get("USAGE_TTL_DAYS", "")
    if not days.strip():
        return []
    n = int(days)
    if n <= 0:
        raise ValueError(f"USAGE_TTL_DAYS must be a positive number of days, got {days!r}")
    return [
        f"ALTER TABLE {database}.usage_events MODIFY TTL toDateTime(received_at) + INTERVAL {n} DAY",
        f"ALTER TABLE {database}.usage_hourly MODIFY TTL hour + INTERVAL {n} DAY",
    ]


def access_statements(database: str) -> list[str]:
    """Roles, profiles and quotas under infra/clickhouse/server (server deployments only: chdb has
    no access control)."""
    folder = resources.files("infra") / "clickhouse" / "server"
    statements: list[str] = []
    for f in sorted(p for p in folder.iterdir() if p.name.endswith(".sql")):
        text = f.read_text().replace("{database}", database)
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
        statements += [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return statements


class ClickHouse:
    """A thin async facade over one clickhouse-connect client."""

    def __init__(self, url: str, database: str) -> None:
        if not database.isidentifier():
            raise ValueError(f"CLICKHOUSE_DATABASE must be a plain identifier, got {database!r}")
        self.url = url
        self.database = database
        self.is_embedded = url.startswith("chdb:")
        workers = 1 if self.is_embedded else 4
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    def _connect(self) -> Client:
        """Connect with ``database`` as the default for unqualified table names (created if missing).

        clickhouse-connect (≈ 5 MB) is imported here, on the first call: a serving worker that does not
        host the loader only opens ClickHouse when someone asks for analytics.
        """
        if self._client is None:
            import clickhouse_connect

            extra = {} if self.is_embedded else {"autogenerate_session_id": False}
            bootstrap = clickhouse_connect.get_client(dsn=self.url, **extra)
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            bootstrap.close()
            self._client = clickhouse_connect.get_client(dsn=self.url, database=self.database, **extra)
        return self._client

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    # Blocking versions, for scripts and the worker thread.
    def command_sync(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._connect().command(sql, parameters=parameters)

    def query_sync(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._connect().query(sql, parameters=parameters)
        return list(result.named_results())

    def raw_query_sync(
        self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> bytes:
        """The result exactly as ClickHouse renders it, in the ``FORMAT`` named at the end of ``sql``."""
        return self._connect().raw_query(sql, parameters=parameters, settings=settings)

    def insert_sync(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        self._connect().insert(
            f"{self.database}.{table}", rows, column_names=list(column_names), settings=settings
        )

    def insert_raw_sync(
        self, table: str, data: bytes, fmt: str = "JSONEachRow", settings: dict[str, Any] | None = None
    ) -> None:
        """Insert pre-formatted rows (e.g. JSONEachRow) that ClickHouse parses itself."""
        self._connect().raw_insert(f"{self.database}.{table}", insert_block=data, settings=settings, fmt=fmt)

    def apply_schema_sync(self) -> None:
        for statement in schema_statements(self.database):
            self.command_sync(statement)
        for statement in retention_statements(self.database):
            self.command_sync(statement)
        if not self.is_embedded:
            for statement in access_statements(self.database):
                try:
                    self.command_sync(statement)
                except Exception as exc:  # the gateway's own user may lack ACCESS MANAGEMENT
                    log.warning("could not apply access statement (%s): %.80s", exc, statement)

    # Async versions, for the event loop.
    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return await self._run(self.command_sync, sql, parameters)

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await self._run(self.query_sync, sql, parameters)

    async def raw_query(
        self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> bytes:
        return await self._run(self.raw_query_sync, sql, parameters, settings)

    async def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        await self._run(self.insert_sync, table, rows, column_names, settings)

    async def insert_raw(
        self, table: str, data: bytes, fmt: str = "JSONEachRow", settings: dict[str, Any] | None = None
    ) -> None:
        await self._run(self.insert_raw_sync, table, data, fmt, settings)

    async def apply_schema(self) -> None:
        await self._run(self.apply_schema_sync)

    async def ping(self) -> bool:
        return bool(await self.command("SELECT 1"))

    async def close(self) -> None:
        if self._client is not None:
            await self._run(self._client.close)
            self._client = None
        self._executor.shutdown(wait=False)
