"""Provider keys: verification, encryption at rest, isolation, rotation and the hot-path cache."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from gateway.keys.crypto import DecryptionError, Sealed, associated_data, key_ring
from gateway.keys.provider_keys import user_provider_keys
from gateway.keys.provider_store import load_provider_keys, rotate_provider_keys
from tests.auth.auth_helpers import (
    UNREACHABLE_PROVIDER_KEY,
    VALID_PROVIDER_KEY_PREFIX,
    AuthGateway,
    User,
    random_master_key,
)


def new_provider_key() -> str:
    return VALID_PROVIDER_KEY_PREFIX + secrets.token_hex(20)


def add_key(client: httpx.Client, user: User, provider: str, api_key: str) -> httpx.Response:
    body = {"provider": provider, "api_key": api_key}
    return client.post("/api/keys/provider", headers=user.auth, json=body)


def keys_of(auth_gateway: AuthGateway, user: User) -> dict[str, str]:
    return auth_gateway.call(user_provider_keys(auth_gateway.state, uuid.UUID(user.id)))


def test_add_list_replace_and_delete(client: httpx.Client, auth_gateway: AuthGateway, alice: User) -> None:
    first = new_provider_key()
    response = add_key(client, alice, "openai", first)
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "openai" and response.json()["verified"] is True
    assert first not in response.text
    assert keys_of(auth_gateway, alice) == {"openai": first}

    second = new_provider_key()
    assert add_key(client, alice, "openai", second).status_code == 201
    assert add_key(client, alice, "anthropic", new_provider_key()).status_code == 201
    assert keys_of(auth_gateway, alice)["openai"] == second  # replaced, and the local cache invalidated

    listed = client.get("/api/keys/provider", headers=alice.auth).json()["keys"]
    assert [k["provider"] for k in listed] == ["anthropic", "openai"]
    assert set(listed[0]) == {"provider", "is_active", "last_verified_at", "created_at"}
    assert all(k["is_active"] and k["last_verified_at"] for k in listed)
    assert first not in str(listed) and second not in str(listed)
    me = client.get("/api/auth/me", headers=alice.auth).json()
    assert me["provider_keys"] == ["anthropic", "openai"]

    assert client.delete("/api/keys/provider/openai", headers=alice.auth).status_code == 204
    assert client.delete("/api/keys/provider/openai", headers=alice.auth).status_code == 404
    assert set(keys_of(auth_gateway, alice)) == {"anthropic"}
    assert client.get("/api/auth/me", headers=alice.auth).json()["provider_keys"] == ["anthropic"]


def test_invalid_key_is_refused_and_not_stored(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    response = add_key(client, alice, "google", "sk-rejected-by-provider")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.json()["error"]["message"] == "Invalid API key"
    count = "SELECT count(*) FROM provider_keys WHERE user_id = $1"
    assert auth_gateway.sql(count, uuid.UUID(alice.id))[0][0] == 0


def test_unreachable_provider_is_503(client: httpx.Client, auth_gateway: AuthGateway, alice: User) -> None:
    response = add_key(client, alice, "openai", UNREACHABLE_PROVIDER_KEY)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"
    assert UNREACHABLE_PROVIDER_KEY not in response.text
    assert keys_of(auth_gateway, alice) == {}


@pytest.mark.parametrize("provider", ["mistral", "", "OpenAI2", "../openai"])
def test_unknown_provider_is_400(client: httpx.Client, alice: User, provider: str) -> None:
    response = add_key(client, alice, provider, new_provider_key())
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"unknown_provider", "invalid_request"}


def test_users_cannot_see_use_or_delete_each_others_provider_keys(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User, bob: User
) -> None:
    secret = new_provider_key()
    assert add_key(client, alice, "openai", secret).status_code == 201
    assert client.get("/api/keys/provider", headers=bob.auth).json()["keys"] == []
    assert client.get("/api/auth/me", headers=bob.auth).json()["provider_keys"] == []
    assert client.delete("/api/keys/provider/openai", headers=bob.auth).status_code == 404
    assert keys_of(auth_gateway, bob) == {}
    assert keys_of(auth_gateway, alice) == {"openai": secret}


def test_database_holds_no_plaintext(client: httpx.Client, auth_gateway: AuthGateway, alice: User) -> None:
    secret = new_provider_key()
    assert add_key(client, alice, "openai", secret).status_code == 201
    query = "SELECT t::text AS text, t.* FROM provider_keys t WHERE user_id = $1"
    row = auth_gateway.sql(query, uuid.UUID(alice.id))
    assert len(row) == 1
    assert secret not in row[0]["text"]
    assert secret.encode() not in row[0]["ciphertext"] and secret.encode() not in row[0]["nonce"]
    # The table's file on disk, after a checkpoint, does not hold it either.
    auth_gateway.sql("CHECKPOINT")
    data_dir, relation = auth_gateway.sql(
        "SELECT current_setting('data_directory'), pg_relation_filepath('provider_keys')"
    )[0]
    if Path(data_dir).exists():
        table_bytes = (Path(data_dir) / relation).read_bytes()
        assert bytes(row[0]["ciphertext"]) in table_bytes  # we are reading the right file
        assert secret.encode() not in table_bytes


def test_ciphertext_copied_to_another_user_or_provider_fails_to_decrypt(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User, bob: User
) -> None:
    secret = new_provider_key()
    assert add_key(client, alice, "openai", secret).status_code == 201
    auth_gateway.sql(
        "INSERT INTO provider_keys (user_id, provider, key_id, nonce, ciphertext)"
        " SELECT $2, provider, key_id, nonce, ciphertext FROM provider_keys WHERE user_id = $1"
        " UNION ALL"
        " SELECT user_id, 'anthropic', key_id, nonce, ciphertext FROM provider_keys WHERE user_id = $1",
        uuid.UUID(alice.id),
        uuid.UUID(bob.id),
    )
    try:
        row = auth_gateway.sql("SELECT * FROM provider_keys WHERE user_id = $1", uuid.UUID(bob.id))[0]
        ring = key_ring(auth_gateway.settings.master_keys)
        sealed = Sealed(row["key_id"], row["nonce"], row["ciphertext"])
        with pytest.raises(DecryptionError):
            ring.decrypt(sealed, associated_data(row["user_id"], "openai"))
        assert keys_of(auth_gateway, bob) == {}
        assert keys_of(auth_gateway, alice) == {"openai": secret}  # the copy under 'anthropic' is skipped
    finally:
        auth_gateway.sql(
            "DELETE FROM provider_keys WHERE user_id = $1 OR (user_id = $2 AND provider = 'anthropic')",
            uuid.UUID(bob.id),
            uuid.UUID(alice.id),
        )


def test_rotation_reencrypts_under_the_new_master_key(
    client: httpx.Client, auth_gateway: AuthGateway, alice: User
) -> None:
    secret = new_provider_key()
    assert add_key(client, alice, "google", secret).status_code == 201
    old = auth_gateway.settings
    old_id = key_ring(old.master_keys).current_id
    rotated_settings = replace(old, master_keys=f"k2:{random_master_key()},{old.master_keys}")
    pool = auth_gateway.state.db
    user_id = uuid.UUID(alice.id)
    before = auth_gateway.sql("SELECT key_id, ciphertext FROM provider_keys WHERE user_id = $1", user_id)[0]
    total = auth_gateway.sql("SELECT count(*) FROM provider_keys WHERE key_id <> 'k2'")[0][0]
    try:
        assert auth_gateway.call(rotate_provider_keys(pool, rotated_settings)) == total
        after = auth_gateway.sql(
            "SELECT key_id, ciphertext FROM provider_keys WHERE user_id = $1", user_id
        )[0]
        assert (before["key_id"], after["key_id"]) == (old_id, "k2")
        assert after["ciphertext"] != before["ciphertext"]
        assert auth_gateway.call(load_provider_keys(pool, rotated_settings, user_id)) == {"google": secret}
        assert auth_gateway.call(load_provider_keys(pool, old, user_id)) == {}  # the old ring lacks k2
        assert auth_gateway.call(rotate_provider_keys(pool, rotated_settings)) == 0
    finally:
        # Back under the gateway's own key, for the tests that follow.
        back = replace(old, master_keys=f"{old.master_keys},{rotated_settings.master_keys.split(',')[0]}")
        auth_gateway.call(rotate_provider_keys(pool, back))
    assert auth_gateway.call(load_provider_keys(pool, old, user_id)) == {"google": secret}
