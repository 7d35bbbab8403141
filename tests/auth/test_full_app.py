"""The accounts and keys routes inside the real gateway app, verifying provider keys against the
provider simulators through the gateway's own adapters."""

from __future__ import annotations

import uuid

import httpx

from gateway.keys.gateway_auth import gateway_key_cache
from gateway.keys.provider_keys import user_provider_keys
from tests.conftest import SIMULATOR_KEYS, Account, RunningGateway


def test_provider_keys_are_verified_by_the_real_adapters(
    api: httpx.Client, gateway: RunningGateway, account: Account
) -> None:
    good = api.post(
        "/api/keys/provider", headers=account.auth,
        json={"provider": "openai", "api_key": SIMULATOR_KEYS["openai"]},
    )
    assert good.status_code == 201, good.text
    bad = api.post(
        "/api/keys/provider", headers=account.auth, json={"provider": "anthropic", "api_key": "sk-wrong"}
    )
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["code"] == "invalid_api_key"
    assert api.get("/api/auth/me", headers=account.auth).json()["provider_keys"] == ["openai"]
    keys = gateway.call(user_provider_keys(gateway.state, uuid.UUID(account.user_id)))
    assert keys == {"openai": SIMULATOR_KEYS["openai"]}


def test_the_app_runs_the_revocation_poller(gateway: RunningGateway) -> None:
    assert gateway_key_cache(gateway.state).trusted
