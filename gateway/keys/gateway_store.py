"""Gateway keys (``gw_...``) in Postgres: only a SHA-256 hash and a display prefix are stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

KEY_PREFIX = "gw_"
DISPLAY_PREFIX_CHARS = 10


def new_gateway_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes, 43 characters


def gateway_key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyOwner:
    key_id: UUID
    user_id: UUID
    plan: str


def _public(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "prefix": row["prefix"],
        "name": row["name"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None,
        "is_active": row["is_active"],
    }


async def create_gateway_key(pool: asyncpg.Pool, user_id: UUID, name: str) -> dict[str, Any]:
    """Create a key; the result carries the full ``key``, which is never retrievable again."""
    key = new_gateway_key()
    row = await pool.fetchrow(
        "INSERT INTO gateway_keys (id, user_id, name, key_hash, prefix) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, prefix, name, created_at, last_used_at, is_active",
        uuid.uuid4(),
        user_id,
        name,
        gateway_key_hash(key),
        key[:DISPLAY_PREFIX_CHARS],
    )
    assert row is not None
    public = _public(row)
    del public["last_used_at"]
    return {**public, "key": key}


async def list_gateway_keys(pool: asyncpg.Pool, user_id: UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, prefix, name, created_at, last_used_at, is_active FROM gateway_keys"
        " WHERE user_id = $1 ORDER BY created_at DESC, id",
        user_id,
    )
    return [_public(r) for r in rows]


async def revoke_gateway_key(pool: asyncpg.Pool, user_id: UUID, key_id: UUID) -> bytes | None:
    """Revoke a key of this user; returns its hash, or None when the user has no such key.

    ``clock_timestamp()`` rather than ``now()``: the revocation pollers read ``revoked_at`` as a cursor.
    """
    return await pool.fetchval(
        "UPDATE gateway_keys SET is_active = false, revoked_at = COALESCE(revoked_at, clock_timestamp())"
        " WHERE id = $1 AND user_id = $2 RETURNING key_hash",
        key_id,
        user_id,
    )


async def find_active_key(pool: asyncpg.Pool, key_hash: bytes) -> KeyOwner | None:
    row = await pool.fetchrow(
        "SELECT k.id, k.user_id, u.plan FROM gateway_keys k JOIN users u ON u.id = k.user_id"
        " WHERE k.key_hash = $1 AND k.is_active AND k.revoked_at IS NULL",
        key_hash,
    )
    return KeyOwner(row["id"], row["user_id"], row["plan"]) if row else None


async def record_last_used(pool: asyncpg.Pool, uses: dict[UUID, datetime]) -> None:
    """One statement for a batch of keys; never moves ``last_used_at`` backwards."""
    if not uses:
        return
    await pool.execute(
        "UPDATE gateway_keys k SET last_used_at = v.used_at"
        " FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, used_at)"
        " WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.used_at)",
        list(uses.keys()),
        list(uses.values()),
    )
