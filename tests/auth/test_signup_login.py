"""Signup, login, throttling and /me over real HTTP."""

from __future__ import annotations

import httpx
from auth_helpers import PASSWORD, unique_email


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
