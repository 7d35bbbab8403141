"""Helpers shared by the accounts and keys tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

VALID_PROVIDER_KEY_PREFIX = "sk-valid-"
UNREACHABLE_PROVIDER_KEY = "sk-provider-down"
PASSWORD = "correct horse battery staple"


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
