"""`make run`'s demo account: created once, and each start hands out a fresh key and retires the last one."""

from __future__ import annotations

import asyncio

import httpx
import openai

from infra.run import DEMO_EMAIL, DEMO_PASSWORD, ensure_demo_account
from tests.conftest import RunningGateway


def test_each_start_gives_a_working_key_and_retires_the_previous_one(
    gateway: RunningGateway, api: httpx.Client
) -> None:
    database_url = gateway.state.settings.database_url
    first = asyncio.run(ensure_demo_account(database_url))
    second = asyncio.run(ensure_demo_account(database_url))
    assert first.startswith("gw_") and second.startswith("gw_") and first != second

    login = api.post("/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert login.status_code == 200
    keys = api.get("/api/keys/gateway", headers={"Authorization": f"Bearer {login.json()['token']}"}).json()
    active = [k for k in keys["keys"] if k["is_active"]]
    assert len(active) == 1 and second.startswith(active[0]["prefix"])

    models = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=second, max_retries=0).models.list()
    assert models.data[0].id == "auto"
