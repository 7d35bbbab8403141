"""Attacks on access and refresh tokens: every protected route answers 401 ``unauthorized``."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import jwt
import orjson
import pytest

from tests.auth.auth_helpers import AuthGateway, User, sign_up

PROTECTED = [
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/keys/gateway"),
    ("POST", "/api/keys/gateway"),
    ("DELETE", f"/api/keys/gateway/{uuid.uuid4()}"),
    ("GET", "/api/keys/provider"),
    ("POST", "/api/keys/provider"),
    ("DELETE", "/api/keys/provider/openai"),
]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def _claims(user: User, **overrides: object) -> dict:
    real = jwt.decode(user.token, options={"verify_signature": False})
    return {**real, **overrides}


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post("/api/auth/refresh", json={"refresh_token": refresh_token})


def me(client: httpx.Client, access_token: str) -> httpx.Response:
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {access_token}"})


def assert_unauthorized(client: httpx.Client, headers: dict[str, str]) -> None:
    for method, path in PROTECTED:
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized", (method, path)
        assert response.json()["error"]["type"] == "authentication_error"


@pytest.fixture()
def user(client: httpx.Client) -> User:
    return sign_up(client)


def test_missing_and_malformed_tokens(client: httpx.Client, user: User) -> None:
    assert_unauthorized(client, {})
    for header in ("Bearer", "Basic dXNlcjpwYXNz", f"Token {user.token}", "Bearer not.a.jwt",
                   "Bearer abc", f"{user.token}"):
        assert_unauthorized(client, {"Authorization": header})


def test_expired_token(client: httpx.Client, auth_gateway: AuthGateway, user: User) -> None:
    now = int(time.time())
    claims = _claims(user, iat=now - 1000, exp=now - 10)
    expired = jwt.encode(claims, auth_gateway.settings.jwt_secret, "HS256")
    assert_unauthorized(client, {"Authorization": f"Bearer {expired}"})


def test_tampered_token(client: httpx.Client, user: User) -> None:
    header, _, signature = user.token.split(".")
    other = str(uuid.uuid4())
    tampered = f"{header}.{_b64(_claims(user, sub=other))}.{signature}"
    assert_unauthorized(client, {"Authorization": f"Bearer {tampered}"})
    flipped = user.token[:-2] + ("A" if user.token[-2] != "A" else "B") + user.token[-1]
    assert_unauthorized(client, {"Authorization": f"Bearer {flipped}"})


def test_wrong_secret(client: httpx.Client, user: User) -> None:
    forged = jwt.encode(_claims(user), "some-other-secret-of-sufficient-length-123456", "HS256")
    assert_unauthorized(client, {"Authorization": f"Bearer {forged}"})


def test_alg_none_and_other_algorithms(client: httpx.Client, auth_gateway: AuthGateway, user: User) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."
    assert_unauthorized(client, {"Authorization": f"Bearer {unsigned}"})
    hs512 = jwt.encode(_claims(user), auth_gateway.settings.jwt_secret, "HS512")
    assert_unauthorized(client, {"Authorization": f"Bearer {hs512}"})


def test_token_for_a_deleted_user(client: httpx.Client, auth_gateway: AuthGateway) -> None:
    user = sign_up(client)
    auth_gateway.sql("DELETE FROM users WHERE id = $1", uuid.UUID(user.id))
    assert_unauthorized(client, user.auth)


def test_refresh_rotates_tokens(client: httpx.Client, user: User) -> None:
    first = refresh(client, user.refresh_token)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["user"]["id"] == user.id
    assert body["refresh_token"] != user.refresh_token
    assert me(client, body['token']).status_code == 200
    second = refresh(client, body["refresh_token"])
    assert second.status_code == 200


def test_refresh_reuse_revokes_the_whole_family(client: httpx.Client, user: User) -> None:
    rotated = refresh(client, user.refresh_token).json()
    newest = refresh(client, rotated["refresh_token"]).json()

    reuse = refresh(client, user.refresh_token)
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "invalid_refresh_token"
    # The newest refresh token and every access token of the family are dead too.
    assert refresh(client, newest["refresh_token"]).status_code == 401
    for token in (user.token, rotated["token"], newest["token"]):
        assert me(client, token).status_code == 401


def test_refresh_reuse_leaves_other_logins_alone(client: httpx.Client, user: User) -> None:
    other_login = client.post("/api/auth/login", json={"email": user.email, "password": user.password}).json()
    refresh(client, user.refresh_token)
    assert refresh(client, user.refresh_token).status_code == 401
    headers = {"Authorization": f"Bearer {other_login['token']}"}
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert refresh(client, other_login["refresh_token"]).status_code == 200


def test_unknown_and_expired_refresh_tokens(
    client: httpx.Client, auth_gateway: AuthGateway, user: User
) -> None:
    assert refresh(client, "made-up").status_code == 401
    assert client.post("/api/auth/refresh", json={}).status_code == 400
    auth_gateway.sql(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
        uuid.UUID(user.id),
    )
    assert refresh(client, user.refresh_token).status_code == 401


def test_logout_kills_both_tokens(client: httpx.Client, user: User) -> None:
    response = client.post("/api/auth/logout", headers=user.auth)
    assert response.status_code == 204
    assert client.get("/api/auth/me", headers=user.auth).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 401
    assert client.post("/api/auth/logout", headers=user.auth).status_code == 401


def test_logout_denylists_the_jti_even_if_the_family_were_alive(
    client: httpx.Client, auth_gateway: AuthGateway, user: User
) -> None:
    assert client.post("/api/auth/logout", headers=user.auth, json={}).status_code == 204
    auth_gateway.sql("UPDATE refresh_families SET revoked_at = NULL WHERE user_id = $1", uuid.UUID(user.id))
    assert client.get("/api/auth/me", headers=user.auth).status_code == 401


def test_logout_with_another_logins_refresh_token(client: httpx.Client, user: User) -> None:
    other = client.post("/api/auth/login", json={"email": user.email, "password": user.password}).json()
    body = {"refresh_token": other["refresh_token"]}
    response = client.post("/api/auth/logout", headers=user.auth, json=body)
    assert response.status_code == 204
    assert refresh(client, other["refresh_token"]).status_code == 401


def test_logout_cannot_revoke_someone_elses_refresh_token(client: httpx.Client, user: User) -> None:
    victim = sign_up(client)
    body = {"refresh_token": victim.refresh_token}
    response = client.post("/api/auth/logout", headers=user.auth, json=body)
    assert response.status_code == 204
    assert refresh(client, victim.refresh_token).status_code == 200
