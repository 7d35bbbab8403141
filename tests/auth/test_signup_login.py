"""Signup, login, login throttling and /me over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from argon2 import PasswordHasher

from gateway.auth.users import create_user, get_user_by_email
from gateway.errors import ApiError
from tests.auth.auth_helpers import PASSWORD, AuthGateway, sign_up, unique_email


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_signup_returns_user_and_tokens_and_me_works(client: httpx.Client) -> None:
    email = unique_email("Mixed")
    response = client.post("/api/auth/signup", json={"email": f"  {email.upper()} ", "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == email.lower()
    assert body["user"]["plan"] == "free"
    assert set(body["user"]) == {"id", "email", "plan", "created_at"}
    assert body["token"].count(".") == 2 and len(body["refresh_token"]) >= 43

    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {**body["user"], "provider_keys": []}


@pytest.mark.parametrize(
    ("email", "password", "code"),
    [
        ("not-an-email", PASSWORD, "invalid_email"),
        ("two@@example.com", PASSWORD, "invalid_email"),
        ("spaces in@example.com", PASSWORD, "invalid_email"),
        ("nodot@localhost", PASSWORD, "invalid_email"),
        (None, "short", "invalid_request"),
        (None, "x" * 257, "invalid_request"),
    ],
)
def test_signup_rejects_bad_input(client: httpx.Client, email: str | None, password: str, code: str) -> None:
    response = client.post("/api/auth/signup", json={"email": email or unique_email(), "password": password})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_signup_rejects_missing_fields_and_bad_json(client: httpx.Client) -> None:
    missing = client.post("/api/auth/signup", json={"email": unique_email()})
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][0]["field"] == "password"
    broken = client.post("/api/auth/signup", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"


def test_duplicate_email_is_refused_case_insensitively(client: httpx.Client) -> None:
    user = sign_up(client)
    again = client.post("/api/auth/signup", json={"email": user.email.upper(), "password": PASSWORD})
    assert again.status_code == 400
    assert again.json()["error"] == {
        "code": "email_taken", "message": "Email already registered", "type": "invalid_request_error",
    }


def test_twenty_concurrent_signups_with_one_email_create_one_user(
    client: httpx.Client, auth_gateway: AuthGateway
) -> None:
    email = unique_email("race")

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=auth_gateway.base_url, timeout=60) as http:
            return await asyncio.gather(
                *(
                    http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
                    for _ in range(20)
                )
            )

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * 19
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 400} == {"email_taken"}
    assert auth_gateway.sql("SELECT count(*) AS n FROM users WHERE email = $1", email)[0]["n"] == 1


def test_library_create_user_and_lookup(auth_gateway: AuthGateway) -> None:
    email = unique_email("lib")
    created = auth_gateway.call(create_user(auth_gateway.state.db, f" {email.upper()}", PASSWORD))
    assert created["email"] == email and created["plan"] == "free"
    found = auth_gateway.call(get_user_by_email(auth_gateway.state.db, email))
    assert found is not None and found["id"] == created["id"]
    assert found["password_hash"].startswith("$argon2id$")
    assert auth_gateway.call(get_user_by_email(auth_gateway.state.db, unique_email("nobody"))) is None
    with pytest.raises(ApiError) as taken:
        auth_gateway.call(create_user(auth_gateway.state.db, email, PASSWORD))
    assert (taken.value.status, taken.value.code) == (400, "email_taken")


def test_login_succeeds_and_issues_a_new_session(client: httpx.Client, fresh_throttle: None) -> None:
    user = sign_up(client)
    response = client.post("/api/auth/login", json={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == user.id
    assert body["refresh_token"] != user.refresh_token
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(client: httpx.Client, fresh_throttle: None) -> None:
    user = sign_up(client)
    wrong = client.post("/api/auth/login", json={"email": user.email, "password": "not the password"})
    unknown = client.post("/api/auth/login", json={"email": unique_email("ghost"), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {
        "error": {
            "code": "invalid_credentials",
            "message": "Invalid credentials",
            "type": "authentication_error",
        }
    }


def test_repeated_failures_for_one_email_are_throttled(client: httpx.Client, fresh_throttle: None) -> None:
    user = sign_up(client)
    for _ in range(5):
        response = client.post("/api/auth/login", json={"email": user.email, "password": "wrong password"})
        assert response.status_code == 401
    blocked = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 15 * 60
    # Another account from the same client is not locked out by this one.
    other = sign_up(client)
    assert login(client, other.email).status_code == 200


def test_repeated_failures_from_one_ip_are_throttled(client: httpx.Client, fresh_throttle: None) -> None:
    for _ in range(20):
        response = client.post("/api/auth/login", json={"email": unique_email("spray"), "password": "guess"})
        assert response.status_code == 401
    blocked = client.post("/api/auth/login", json={"email": unique_email("spray"), "password": "guess"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1


def test_login_rehashes_an_outdated_hash(
    client: httpx.Client, auth_gateway: AuthGateway, fresh_throttle: None
) -> None:
    user = sign_up(client)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    auth_gateway.sql("UPDATE users SET password_hash = $2 WHERE email = $1", user.email, weak)
    assert login(client, user.email).status_code == 200
    stored = auth_gateway.sql("SELECT password_hash FROM users WHERE email = $1", user.email)[0][0]
    assert stored != weak and stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert login(client, user.email).status_code == 200
