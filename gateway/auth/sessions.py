"""Login sessions: token pairs, refresh-token rotation with reuse detection, and logout.

A *family* is one login. Every refresh rotates the family's token; presenting a token that was already
rotated out means it leaked (or a client raced itself), so the whole family is revoked: its refresh
tokens stop working and so do the access tokens issued under it (the guard checks the family).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from gateway.auth.tokens import AccessClaims, issue_access_token, new_refresh_token, token_hash
from gateway.errors import ApiError
from gateway.settings import Settings


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


def _invalid_refresh() -> ApiError:
    return ApiError(401, "invalid_refresh_token", "Invalid or expired refresh token")


async def _insert_refresh_token(
    conn: asyncpg.Connection, settings: Settings, user_id: UUID, family_id: UUID
) -> str:
    token = new_refresh_token()
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, $2, $3, $4)",
        token_hash(token),
        family_id,
        user_id,
        expires_at,
    )
    return token


def _access_token(settings: Settings, user_id: UUID, family_id: UUID) -> str:
    return issue_access_token(settings.jwt_secret, user_id, family_id, settings.access_token_ttl_s)


async def start_session(pool: asyncpg.Pool, settings: Settings, user_id: UUID) -> TokenPair:
    """A new family with its first refresh token, and an access token bound to it."""
    family_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO refresh_families (id, user_id) VALUES ($1, $2)", family_id, user_id
        )
        refresh = await _insert_refresh_token(conn, settings, user_id, family_id)
    return TokenPair(_access_token(settings, user_id, family_id), refresh)


async def rotate(pool: asyncpg.Pool, settings: Settings, refresh_token: str) -> tuple[UUID, TokenPair]:
    """Exchange a refresh token for a new pair; reuse of a rotated token revokes its family (401)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT t.family_id, t.user_id, t.used_at, t.expires_at, f.revoked_at"
                " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id"
                " WHERE t.token_hash = $1 FOR UPDATE OF t, f",
                token_hash(refresh_token),
            )
            if row is None or row["revoked_at"] is not None:
                raise _invalid_refresh()
            reused = row["used_at"] is not None
            if not reused and row["expires_at"] > datetime.now(UTC):
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
                    token_hash(refresh_token),
                )
                new_refresh = await _insert_refresh_token(conn, settings, row["user_id"], row["family_id"])
                pair = TokenPair(_access_token(settings, row["user_id"], row["family_id"]), new_refresh)
                return row["user_id"], pair
        if reused:
            await revoke_family(conn, row["family_id"])
        raise _invalid_refresh()


async def revoke_family(conn: asyncpg.Connection | asyncpg.Pool, family_id: UUID) -> None:
    await conn.execute(
        "UPDATE refresh_families SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", family_id
    )


async def logout(
    pool: asyncpg.Pool, claims: AccessClaims, refresh_token: str | None = None
) -> None:
    """Revoke the access token's family (and a refresh token's family, if it is this user's) and deny
    the access token's jti until it expires."""
    async with pool.acquire() as conn, conn.transaction():
        await revoke_family(conn, claims.family_id)
        if refresh_token:
            await conn.execute(
                "UPDATE refresh_families f SET revoked_at = now() FROM refresh_tokens t"
                " WHERE t.token_hash = $1 AND t.user_id = $2 AND f.id = t.family_id AND f.revoked_at IS NULL",
                token_hash(refresh_token),
                claims.user_id,
            )
        await conn.execute(
            "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            claims.jti,
            datetime.fromtimestamp(claims.expires_at, UTC),
        )
        # Housekeeping: expired rows protect nothing any more.
        await conn.execute("DELETE FROM revoked_access_tokens WHERE expires_at < now()")
        await conn.execute(
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at < now()", claims.user_id
        )
