"""Shared fixtures: the real local stack (Postgres, Kafka, provider simulators) on free ports, and the
gateway served by uvicorn in a background thread of the test process (so tests can read the same
in-process ClickHouse engine the gateway writes to).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from gateway.state import AppState
from infra.stack import Endpoints, LocalStack, StackPorts
from infra.stack.processes import pick_free_ports
from infra.stack.redis import RedisService
from tests.serving import serve_in_thread

SIMULATOR_KEYS = {"openai": "sim-openai-key", "anthropic": "sim-anthropic-key", "google": "sim-google-key"}


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack(stack_dir: Path) -> Iterator[LocalStack]:
    """Postgres, Kafka and the three provider simulators, started once per test session."""
    local = LocalStack(stack_dir, StackPorts.free())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def endpoints(stack: LocalStack) -> Endpoints:
    return stack.endpoints


# The whole test session talks from 127.0.0.1 and signs up many users: limits far above what any test
# sends, except in the rate-limit tests, which pass their own.
TEST_RATE_LIMITS = {
    "rate_limit_per_key": 100_000,
    "rate_limit_per_ip": 100_000,
    "rate_limit_api_per_ip": 100_000,
    "rate_limit_auth_per_ip": 100_000,
}


def gateway_settings(endpoints: Endpoints, data_dir: Path, **overrides: Any) -> Settings:
    env = {
        **endpoints.as_env(),
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "OPENAI_API_KEY": SIMULATOR_KEYS["openai"],
        "ANTHROPIC_API_KEY": SIMULATOR_KEYS["anthropic"],
        "GOOGLE_API_KEY": SIMULATOR_KEYS["google"],
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings.from_env()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return replace(settings, **{**TEST_RATE_LIMITS, **overrides})


@dataclass
class RunningGateway:
    """A gateway served over real HTTP on 127.0.0.1."""

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    @property
    def app(self) -> Starlette:
        return self.server.config.loaded_app  # type: ignore[return-value]

    @property
    def state(self) -> AppState:
        return self.app.state.gw

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the gateway's event loop from the test thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def clickhouse(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.call(self.state.clickhouse.query(sql, parameters))

    def wait_for_rows(self, sql: str, parameters: dict[str, Any], expected: int, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        count = -1
        while time.monotonic() < deadline:
            count = int(self.clickhouse(sql, parameters)[0]["n"])
            if count >= expected:
                return count
            time.sleep(0.2)
        return count

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def start_gateway(settings: Settings) -> RunningGateway:
    served = serve_in_thread(create_app(settings), settings.port, "gateway")
    return RunningGateway(f"http://127.0.0.1:{settings.port}", served.server, served.thread, served.loop)


@pytest.fixture(scope="session")
def gateway(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the session, with its in-process usage loader and chdb engine."""
    data_dir = tmp_path_factory.mktemp("gateway")
    settings = gateway_settings(endpoints, data_dir, port=pick_free_ports(1)[0])
    running = start_gateway(settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def api(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        yield client


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    token: str
    refresh_token: str
    gateway_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_counter = iter(range(1_000_000))


def new_account(api: httpx.Client) -> Account:
    """Sign up a fresh user through the API and create a gateway key for it."""
    email = f"user{next(_counter)}-{time.time_ns()}@example.com"
    password = "correct horse battery"
    signup = api.post("/api/auth/signup", json={"email": email, "password": password})
    assert signup.status_code == 201, signup.text
    body = signup.json()
    key = api.post(
        "/api/keys/gateway", json={"name": "test"}, headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert key.status_code == 201, key.text
    return Account(email, password, body["user"]["id"], body["token"], body["refresh_token"],
                   key.json()["key"])


@pytest.fixture()
def account(api: httpx.Client) -> Account:
    return new_account(api)


@pytest.fixture(scope="module")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisService]:
    """A private Redis server for unit tests of the rate limiter and the response cache."""
    root = tmp_path_factory.mktemp("redis")
    service = RedisService(root / "data", root / "logs", pick_free_ports(1)[0], maxmemory="64mb")
    service.prepare()
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture()
def redis_url(redis_service: RedisService) -> str:
    return redis_service.url
