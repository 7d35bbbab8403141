"""Fixtures for the accounts and keys tests: real Postgres, and the auth and key routes served over real
HTTP by uvicorn in a background thread.

The app here mounts exactly the routes of ``gateway.auth`` and ``gateway.keys`` (plus a tiny
``/v1/whoami`` route that authenticates a gateway key the way the chat route does), so these tests
need Postgres only. Providers are the one external dependency, stood in for by ``FakeProvider``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import uvicorn
from auth_helpers import (  # tests/auth is on sys.path (rootdir-relative test modules)
    UNREACHABLE_PROVIDER_KEY,
    VALID_PROVIDER_KEY_PREFIX,
    User,
    sign_up,
    unique_email,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.routes import routes as auth_routes
from gateway.db import create_pool
from gateway.errors import EXCEPTION_HANDLERS
from gateway.http import json_response
from gateway.keys.gateway_auth import authenticate_gateway_key, start_key_cache, stop_key_cache
from gateway.keys.routes import routes as key_routes
from gateway.settings import Settings
from gateway.state import AppState, get_state
from infra.stack import LocalStack, StackPorts


class ProviderUnavailable(Exception):
    status = 503


class FakeProvider:
    """Stands in for a provider's key check: keys with the valid prefix are accepted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.verified: list[str] = []

    async def verify_key(self, api_key: str) -> bool:
        if api_key == UNREACHABLE_PROVIDER_KEY:
            raise ProviderUnavailable(f"{self.name} unreachable")
        self.verified.append(api_key)
        return api_key.startswith(VALID_PROVIDER_KEY_PREFIX)


def random_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int, start: int = 19400, stop: int = 19500) -> list[int]:
    ports = [port for port in range(start, stop) if _port_is_free(port)][:count]
    if len(ports) < count:
        raise RuntimeError(f"fewer than {count} free ports in {start}-{stop}")
    return ports


@pytest.fixture(scope="session")
def auth_ports() -> list[int]:
    return free_ports(2)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, auth_ports: list[int]) -> Iterator[str]:
    """A real Postgres for the session (or the one in AUTH_TEST_DATABASE_URL)."""
    external = os.environ.get("AUTH_TEST_DATABASE_URL")
    if external:
        yield external
        return
    stack = LocalStack(
        tmp_path_factory.mktemp("auth-stack"),
        replace(StackPorts.free(), postgres=auth_ports[0]),
        services=("postgres",),
    )
    endpoints = stack.start()
    try:
        yield endpoints.database_url
    finally:
        stack.stop()


async def _whoami(request: Request) -> Response:
    principal = await authenticate_gateway_key(get_state(request), request.headers.get("authorization"))
    return json_response(
        {"user_id": str(principal.user_id), "key_id": str(principal.key_id), "plan": principal.plan}
    )


def build_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url)
        state = AppState(
            settings=settings, db=pool, clickhouse=None, producer=None,  # type: ignore[arg-type]
            adapters={name: FakeProvider(name) for name in ("openai", "anthropic", "google")},
        )
        app.state.gw = state
        await start_key_cache(state)
        try:
            yield
        finally:
            await stop_key_cache(state)
            await pool.close()

    routes = [*auth_routes, *key_routes, Route("/v1/whoami", _whoami, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)


@dataclass
class AuthGateway:
    base_url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    @property
    def state(self) -> AppState:
        return self.server.config.loaded_app.app.state.gw  # type: ignore[union-attr]

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's event loop (where its pool lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sql(self, query: str, *args: Any) -> list[Any]:
        return self.call(self.state.db.fetch(query, *args))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(settings: Settings) -> AuthGateway:
    config = uvicorn.Config(
        build_app(settings), host="127.0.0.1", port=settings.port, log_config=None,
        access_log=False, lifespan="on",
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, name="auth-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("auth test gateway did not start")
        time.sleep(0.05)
    return AuthGateway(f"http://127.0.0.1:{settings.port}", settings, server, thread, loop)


@pytest.fixture(scope="session")
def auth_settings(database_url: str, auth_ports: list[int]) -> Settings:
    return Settings(
        database_url=database_url,
        port=auth_ports[1],
        jwt_secret=secrets.token_urlsafe(48),
        master_keys=f"k1:{random_master_key()}",
        access_token_ttl_s=900,
    )


@pytest.fixture(scope="session")
def auth_gateway(auth_settings: Settings) -> Iterator[AuthGateway]:
    running = serve(auth_settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def client(auth_gateway: AuthGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_gateway.base_url, timeout=30) as http:
        yield http


@pytest.fixture()
def alice(client: httpx.Client) -> User:
    return sign_up(client, unique_email("alice"))


@pytest.fixture()
def bob(client: httpx.Client) -> User:
    return sign_up(client, unique_email("bob"))


@pytest.fixture()
def fresh_throttle(auth_gateway: AuthGateway) -> Iterator[None]:
    """A fresh login throttle, so failures from other tests (same client IP) do not count."""
    from gateway.auth.throttle import InMemoryLoginThrottle

    auth_gateway.state.extras["login_throttle"] = InMemoryLoginThrottle()
    yield
    auth_gateway.state.extras["login_throttle"] = InMemoryLoginThrottle()
