"""Gateway keys: creation, listing, isolation between users, revocation reaching every process."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import httpx

from gateway.db import create_pool
from gateway.keys.gateway_auth import gateway_key_cache
from gateway.keys.gateway_store import gateway_key_hash
from gateway.keys.key_cache import GatewayKeyCache
from tests.auth.auth_helpers import AuthGateway, User


def create_key(client: httpx.Client, user: User, name: str = "ci") -> dict:
    response = client.post("/api/keys/gateway", headers=user.auth, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def whoami(client: httpx.Client, key: str) -> httpx.Response:
    return client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})


def test_create_returns_the_key_once_and_stores_only_its_hash(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    created = create_key(client, alice, "laptop")
    key = created["key"]
    assert key.startswith("gw_") and len(key) >= 3 + 43
    assert created["prefix"] == key[:10]
    assert created["name"] == "laptop" and created["is_active"] is True
    assert set(created) == {"id", "key", "prefix", "name", "created_at", "is_active"}

    row = auth_gateway.sql("SELECT * FROM gateway_keys WHERE id = $1", uuid.UUID(created["id"]))[0]
    assert row["key_hash"] == hashlib.sha256(key.encode()).digest()
    assert key not in str(dict(row))

    listed = client.get("/api/keys/gateway", headers=alice.auth).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert set(listed[0]) == {"id", "prefix", "name", "created_at", "last_used_at", "is_active"}
    assert key not in str(listed)


def test_create_without_body_and_with_too_long_name(client: httpx.Client, alice: User) -> None:
    response = client.post("/api/keys/gateway", headers=alice.auth)
    assert response.status_code == 201 and response.json()["name"] == ""
    too_long = client.post("/api/keys/gateway", headers=alice.auth, json={"name": "x" * 101})
    assert too_long.status_code == 400


def test_gateway_key_authenticates_v1_calls(client: httpx.Client, alice: User) -> None:
    key = create_key(client, alice)["key"]
    for _ in range(3):
        response = whoami(client, key)
        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == alice.id and response.json()["plan"] == "free"


def test_bad_gateway_keys_are_rejected_without_echo(client: httpx.Client, alice: User) -> None:
    key = create_key(client, alice)["key"]
    for attempt in (key + "x", key[:-1], "gw_" + "A" * 43, "sk-something", alice.token):
        response = whoami(client, attempt)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "invalid_api_key"
        assert error["message"].startswith("Incorrect API key provided")
        assert attempt not in response.text and attempt[:12] not in response.text
    missing = client.get("/v1/whoami")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"


def test_revoked_key_stops_working_at_once_in_this_process(client: httpx.Client, alice: User) -> None:
    created = create_key(client, alice)
    assert whoami(client, created["key"]).status_code == 200
    assert client.delete(f"/api/keys/gateway/{created['id']}", headers=alice.auth).status_code == 204
    assert whoami(client, created["key"]).status_code == 401
    listed = client.get("/api/keys/gateway", headers=alice.auth).json()["keys"]
    assert [k["is_active"] for k in listed if k["id"] == created["id"]] == [False]


def test_users_cannot_see_use_or_revoke_each_others_gateway_keys(
    client: httpx.Client, alice: User, bob: User
) -> None:
    alices = create_key(client, alice)
    bobs = create_key(client, bob)
    listed = client.get("/api/keys/gateway", headers=bob.auth).json()["keys"]
    assert [k["id"] for k in listed] == [bobs["id"]]

    for key_id in (alices["id"], str(uuid.uuid4()), "not-a-uuid", "1"):
        response = client.delete(f"/api/keys/gateway/{key_id}", headers=bob.auth)
        assert response.status_code == 404, key_id
        assert response.json()["error"] == {
            "code": "not_found", "message": "Key not found", "type": "not_found_error",
        }
    assert whoami(client, alices["key"]).json()["user_id"] == alice.id
    assert whoami(client, bobs["key"]).json()["user_id"] == bob.id


def test_hot_key_is_served_from_the_cache(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    key = create_key(client, alice)["key"]
    cache = gateway_key_cache(auth_gateway.state)
    assert whoami(client, key).status_code == 200
    misses, hits = cache.misses, cache.hits
    for _ in range(20):
        assert whoami(client, key).status_code == 200
    assert cache.hits - hits >= 20
    assert cache.misses == misses


def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    created = create_key(client, alice)
    key_id = uuid.UUID(created["id"])
    cache = gateway_key_cache(auth_gateway.state)

    def last_used() -> object:
        return auth_gateway.sql("SELECT last_used_at FROM gateway_keys WHERE id = $1", key_id)[0][0]

    assert whoami(client, created["key"]).status_code == 200
    assert last_used() is None  # recorded in memory, not written per request
    assert auth_gateway.call(cache.flush_uses()) >= 1
    first = last_used()
    assert first is not None
    listed = client.get("/api/keys/gateway", headers=alice.auth).json()["keys"]
    assert next(k["last_used_at"] for k in listed if k["id"] == created["id"]) == first.isoformat()

    assert whoami(client, created["key"]).status_code == 200
    auth_gateway.call(cache.flush_uses())
    assert last_used() == first  # written less than a minute ago: not again yet
    assert key_id in cache._pending_uses
    auth_gateway.call(cache.flush_uses(force=True))  # what stop() does
    assert last_used() > first


def test_revocation_reaches_another_process_cache_within_one_second(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    created = create_key(client, alice)
    key_hash = gateway_key_hash(created["key"])

    async def other_process() -> float:
        pool = await create_pool(auth_gateway.settings.database_url)
        cache = GatewayKeyCache(pool)
        await cache.start()
        try:
            assert await cache.lookup(key_hash) is not None
            misses = cache.misses
            assert await cache.lookup(key_hash) is not None
            assert cache.misses == misses  # served from memory, no query
            async with httpx.AsyncClient(base_url=auth_gateway.base_url) as http:
                revoked = await http.delete(f"/api/keys/gateway/{created['id']}", headers=alice.auth)
                assert revoked.status_code == 204
            started = time.monotonic()
            while time.monotonic() - started < 1.0 and await cache.lookup(key_hash) is not None:
                await asyncio.sleep(0.01)
            propagation = time.monotonic() - started
            assert await cache.lookup(key_hash) is None, "still accepted one second after revocation"
            return propagation
        finally:
            await cache.stop()
            await pool.close()

    propagation = asyncio.run(other_process())
    print(f"revocation reached the second cache after {propagation * 1000:.0f} ms")
