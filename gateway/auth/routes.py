"""/api/auth/*: signup, login, refresh, logout and the current user."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.guard import current_user_and_claims
from gateway.auth.passwords import hash_password, needs_rehash, verify_password
from gateway.auth.sessions import TokenPair, logout, rotate, start_session
from gateway.auth.throttle import InMemoryLoginThrottle, LoginThrottle
from gateway.auth.users import (
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    create_user,
    get_user_by_email,
    get_user_by_id,
    normalise_email,
    public_user,
    update_password_hash,
)
from gateway.errors import ApiError
from gateway.http import json_response, parse_body
from gateway.keys.provider_store import configured_providers
from gateway.state import AppState, get_state

_THROTTLE_KEY = "login_throttle"


class SignupBody(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_CHARS + 64)
    password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)


class LoginBody(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_CHARS + 64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutBody(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=200)


def login_throttle(state: AppState) -> LoginThrottle:
    throttle = state.extras.get(_THROTTLE_KEY)
    if throttle is None:
        throttle = state.extras[_THROTTLE_KEY] = InMemoryLoginThrottle()
    return throttle


def _session_body(user: dict[str, Any], pair: TokenPair) -> dict[str, Any]:
    return {"user": public_user(user), "token": pair.access_token, "refresh_token": pair.refresh_token}


async def signup(request: Request) -> Response:
    state = get_state(request)
    body = await parse_body(request, SignupBody)
    user = await create_user(state.db, body.email, body.password)
    pair = await start_session(state.db, state.settings, user["id"])
    return json_response(_session_body(user, pair), status=201)


async def login(request: Request) -> Response:
    state = get_state(request)
    body = await parse_body(request, LoginBody)
    throttle = login_throttle(state)
    email = normalise_email(body.email)
    client_ip = request.client.host if request.client else "unknown"
    keys = (f"email:{email}", f"ip:{client_ip}")
    wait = await throttle.retry_after(keys)
    if wait is not None:
        raise ApiError(
            429, "too_many_attempts", "Too many failed login attempts; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = await get_user_by_email(state.db, email)
    if not await verify_password(user["password_hash"] if user else None, body.password):
        await throttle.record_failure(keys)
        raise ApiError(401, "invalid_credentials", "Invalid credentials")
    assert user is not None
    await throttle.reset(keys[0])
    if needs_rehash(user["password_hash"]):
        await update_password_hash(state.db, user["id"], await hash_password(body.password))
    pair = await start_session(state.db, state.settings, user["id"])
    return json_response(_session_body(user, pair))


async def refresh(request: Request) -> Response:
    state = get_state(request)
    body = await parse_body(request, RefreshBody)
    user_id, pair = await rotate(state.db, state.settings, body.refresh_token)
    user = await get_user_by_id(state.db, user_id)
    if user is None:
        raise ApiError(401, "invalid_refresh_token", "Invalid or expired refresh token")
    return json_response(_session_body(user, pair))


async def logout_route(request: Request) -> Response:
    state = get_state(request)
    _, claims = await current_user_and_claims(request)
    body = await parse_body(request, LogoutBody) if await request.body() else LogoutBody()
    await logout(state.db, claims, body.refresh_token)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    state = get_state(request)
    authed, _ = await current_user_and_claims(request)
    user = await get_user_by_id(state.db, authed.id)
    if user is None:
        raise ApiError(401, "unauthorized", "Missing or invalid access token")
    providers = await configured_providers(state.db, UUID(str(user["id"])))
    return json_response({**public_user(user), "provider_keys": providers})


routes = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/logout", logout_route, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
]
