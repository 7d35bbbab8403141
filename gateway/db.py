"""Postgres: an asyncpg pool and plain, ordered SQL migrations applied at startup."""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

log = logging.getLogger("switchyard.db")

# Any fixed number: serialises concurrent migrators across processes.
_MIGRATION_LOCK_ID = 0x5717C4_4A2D


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped in gateway/migrations, in order."""
    folder = resources.files("gateway") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name, f.read_text()) for f in files]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction. Returns the names applied."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    return applied_now


async def create_pool(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10, command_timeout=10)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate(conn)
    return pool
