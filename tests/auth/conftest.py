"""Fixtures for the accounts and keys tests: a real Postgres, and the auth and key routes served over
real HTTP (see ``tests/auth/auth_helpers.py``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from gateway.auth.throttle import InMemoryLoginThrottle
from gateway.settings import Settings
from infra.stack import LocalStack, StackPorts
from tests.auth.auth_helpers import (
    AuthGateway,
    User,
    free_ports,
    random_master_key,
    serve,
    sign_up,
    unique_email,
)


@pytest.fixture(scope="session")
def auth_ports() -> list[int]:
    return free_ports(2)


@pytest.fixture(scope="session")
def auth_database_url(tmp_path_factory: pytest.TempPathFactory, auth_ports: list[int]) -> Iterator[str]:
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


@pytest.fixture(scope="session")
def auth_settings(auth_database_url: str, auth_ports: list[int]) -> Settings:
    return Settings(
        database_url=auth_database_url,
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
    auth_gateway.state.extras["login_throttle"] = InMemoryLoginThrottle()
    yield
    auth_gateway.state.extras["login_throttle"] = InMemoryLoginThrottle()
