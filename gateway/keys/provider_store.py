"""Provider keys in Postgres: encrypted upsert, listing, removal, decryption and master-key rotation."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg

from gateway.keys.crypto import DecryptionError, Sealed, associated_data, key_ring
from gateway.settings import Settings

log = logging.getLogger("switchyard.keys")

PROVIDERS = ("openai", "anthropic", "google")


class KeyRotationError(Exception):
    """Some rows are encrypted under a master key id that MASTER_KEYS no longer lists."""


async def save_provider_key(
    pool: asyncpg.Pool, settings: Settings, user_id: UUID, provider: str, api_key: str
) -> None:
    """Encrypt and store (replacing any earlier key for this provider), marked verified now."""
    sealed = key_ring(settings.master_keys).encrypt(api_key, associated_data(user_id, provider))
    await pool.execute(
        "INSERT INTO provider_keys (user_id, provider, key_id, nonce, ciphertext, last_verified_at)"
        " VALUES ($1, $2, $3, $4, $5, now())"
        " ON CONFLICT (user_id, provider) DO UPDATE SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce,"
        " ciphertext = EXCLUDED.ciphertext, is_active = true, created_at = now(),"
        " last_verified_at = EXCLUDED.last_verified_at",
        user_id,
        provider,
        sealed.key_id,
        sealed.nonce,
        sealed.ciphertext,
    )


async def list_provider_keys(pool: asyncpg.Pool, user_id: UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT provider, is_active, last_verified_at, created_at FROM provider_keys"
        " WHERE user_id = $1 ORDER BY provider",
        user_id,
    )
    return [
        {
            "provider": r["provider"],
            "is_active": r["is_active"],
            "last_verified_at": r["last_verified_at"].isoformat() if r["last_verified_at"] else None,
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows
    ]


async def configured_providers(pool: asyncpg.Pool, user_id: UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT provider FROM provider_keys WHERE user_id = $1 AND is_active ORDER BY provider", user_id
    )
    return [r["provider"] for r in rows]


async def delete_provider_key(pool: asyncpg.Pool, user_id: UUID, provider: str) -> bool:
    status = await pool.execute(
        "DELETE FROM provider_keys WHERE user_id = $1 AND provider = $2", user_id, provider
    )
    return status != "DELETE 0"


async def load_provider_keys(pool: asyncpg.Pool, settings: Settings, user_id: UUID) -> dict[str, str]:
    """Decrypted active keys by provider; a row that fails to decrypt is skipped and reported."""
    ring = key_ring(settings.master_keys)
    rows = await pool.fetch(
        "SELECT provider, key_id, nonce, ciphertext FROM provider_keys WHERE user_id = $1 AND is_active",
        user_id,
    )
    keys: dict[str, str] = {}
    for r in rows:
        sealed = Sealed(r["key_id"], r["nonce"], r["ciphertext"])
        try:
            keys[r["provider"]] = ring.decrypt(sealed, associated_data(user_id, r["provider"]))
        except DecryptionError as exc:
            log.error("provider key of user %s for %s unusable: %s", user_id, r["provider"], exc)
    return keys


async def rotate_provider_keys(pool: asyncpg.Pool, settings: Settings) -> int:
    """Re-encrypt every provider key not under the current (first) master key. Returns the count.

    Raises KeyRotationError after rotating the rest if some rows cannot be decrypted.
    """
    ring = key_ring(settings.master_keys)
    rotated = 0
    failed: list[str] = []
    async with pool.acquire() as conn:
        stale = await conn.fetch(
            "SELECT user_id, provider FROM provider_keys WHERE key_id <> $1", ring.current_id
        )
        for ref in stale:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT key_id, nonce, ciphertext FROM provider_keys"
                    " WHERE user_id = $1 AND provider = $2 AND key_id <> $3 FOR UPDATE",
                    ref["user_id"],
                    ref["provider"],
                    ring.current_id,
                )
                if row is None:  # replaced or removed meanwhile
                    continue
                aad = associated_data(ref["user_id"], ref["provider"])
                try:
                    plaintext = ring.decrypt(Sealed(row["key_id"], row["nonce"], row["ciphertext"]), aad)
                except DecryptionError as exc:
                    failed.append(f"{ref['user_id']}/{ref['provider']}: {exc}")
                    continue
                sealed = ring.encrypt(plaintext, aad)
                await conn.execute(
                    "UPDATE provider_keys SET key_id = $3, nonce = $4, ciphertext = $5"
                    " WHERE user_id = $1 AND provider = $2",
                    ref["user_id"],
                    ref["provider"],
                    sealed.key_id,
                    sealed.nonce,
                    sealed.ciphertext,
                )
                rotated += 1
    if failed:
        raise KeyRotationError(
            f"rotated {rotated} provider keys; {len(failed)} could not be decrypted: " + "; ".join(failed)
        )
    return rotated
