"""Access tokens (short-lived HS256 JWTs) and opaque refresh tokens (random, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from uuid import UUID

import jwt

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "fam"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    jti: str
    family_id: UUID
    expires_at: int  # unix seconds


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or not an access token."""


def issue_access_token(secret: str, user_id: UUID, family_id: UUID, ttl_s: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "fam": str(family_id),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl_s,
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str) -> AccessClaims:
    """Verify signature (HS256 only, so ``alg: none`` and algorithm confusion fail) and expiry."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=UUID(claims["sub"]),
            jti=str(claims["jti"]),
            family_id=UUID(claims["fam"]),
            expires_at=int(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """SHA-256 of a high-entropy random token: a fast hash is enough, nothing to brute-force."""
    return hashlib.sha256(token.encode()).digest()
