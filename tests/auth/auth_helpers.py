"""The accounts-and-keys test harness: the auth and key routes served over real HTTP, and helpers.

The app mounts exactly the routes of ``gateway.auth`` and ``gateway.keys`` (plus a tiny ``/v1/whoami``
route that authenticates a gateway key the way the chat route does), so these tests need Postgres
only. Providers are the one external dependency, stood in for by ``FakeProvider``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
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
from tests.serving import serve_in_thread

VALID_PROVIDER_KEY_PREFIX = "sk-valid-"
UNREACHABLE_PROVIDER_KEY = "sk-provider-down"
PASSWORD = "correct horse battery staple"


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
        return self.server.config.loaded_app.state.gw  # type: ignore[union-attr]

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's event loop (where its pool lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sql(self, query: str, *args: Any) -> list[Any]:
        return self.call(self.state.db.fetch(query, *args))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(settings: Settings) -> AuthGateway:
    served = serve_in_thread(build_app(settings), settings.port, "auth-gateway", startup_timeout=60)
    base_url = f"http://127.0.0.1:{settings.port}"
    return AuthGateway(base_url, settings, served.server, served.thread, served.loop)


@dataclass
class User:
    id: str
    email: str
    password: str
    token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{secrets.token_hex(6)}@example.com"


def sign_up(client: httpx.Client, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or unique_email()
    response = client.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return User(body["user"]["id"], body["user"]["email"], password, body["token"], body["refresh_token"])
