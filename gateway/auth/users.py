"""User records: creation (with a race-proof unique email), look-ups and their public JSON shape."""

from __future__ import annotations

import re
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from gateway.auth.passwords import hash_password
from gateway.errors import ApiError

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256  # argon2 of a huge input is a cheap way to burn CPU
MAX_EMAIL_CHARS = 254

# Deliberately simple: one @, no whitespace, a dot in the domain, no empty labels.
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,63}$")

_USER_COLUMNS = "id, email, plan, created_at"


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_CHARS and _EMAIL_RE.match(email) is not None


def public_user(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "plan": row["plan"],
        "created_at": row["created_at"].isoformat(),
    }


async def create_user(pool: asyncpg.Pool, email: str, password: str) -> dict[str, Any]:
    """Create a user; ApiError 400 ``email_taken`` if the email exists (decided by the unique index).

    Returns the row as a dict (id, email, plan, created_at).
    """
    email = normalise_email(email)
    if not is_valid_email(email):
        raise ApiError(400, "invalid_email", "Invalid email address")
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ApiError(
            400,
            "invalid_password",
            f"Password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
        )
    password_hash = await hash_password(password)
    try:
        row = await pool.fetchrow(
            f"INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) RETURNING {_USER_COLUMNS}",
            uuid.uuid4(),
            email,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise ApiError(400, "email_taken", "Email already registered") from None
    assert row is not None
    return dict(row)


async def get_user_by_email(pool: asyncpg.Pool, email: str) -> dict[str, Any] | None:
    """The user (including ``password_hash``) or None."""
    row = await pool.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE email = $1", normalise_email(email)
    )
    return dict(row) if row else None


async def get_user_by_id(pool: asyncpg.Pool, user_id: UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return dict(row) if row else None


async def update_password_hash(pool: asyncpg.Pool, user_id: UUID, password_hash: str) -> None:
    await pool.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)
