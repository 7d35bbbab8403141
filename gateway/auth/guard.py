"""The guard for dashboard routes: a valid, unrevoked Bearer access token, or 401 ``unauthorized``."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from starlette.requests import Request

from gateway.auth.tokens import AccessClaims, InvalidToken, decode_access_token
from gateway.errors import ApiError
from gateway.state import get_state


@dataclass(frozen=True)
class AuthedUser:
    id: UUID
    email: str
    plan: str


def _unauthorized(message: str = "Missing or invalid access token") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized()
    return token


def access_claims(request: Request) -> AccessClaims:
    try:
        return decode_access_token(get_state(request).settings.jwt_secret, bearer_token(request))
    except InvalidToken:
        raise _unauthorized() from None


# One round trip: the user still exists, the token was not logged out, its login was not revoked.
_CHECK_SQL = """
SELECT u.id, u.email, u.plan
FROM users u
WHERE u.id = $1
  AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = $2)
  AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = $3 AND f.revoked_at IS NOT NULL)
"""


async def current_user_and_claims(request: Request) -> tuple[AuthedUser, AccessClaims]:
    claims = access_claims(request)
    row = await get_state(request).db.fetchrow(_CHECK_SQL, claims.user_id, claims.jti, claims.family_id)
    if row is None:
        raise _unauthorized()
    return AuthedUser(id=row["id"], email=row["email"], plan=row["plan"]), claims


async def current_user(request: Request) -> AuthedUser:
    """The signed-in user, or ApiError 401 ``unauthorized``."""
    user, _ = await current_user_and_claims(request)
    return user
