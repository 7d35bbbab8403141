"""Property-based fuzzing of every route from our own OpenAPI document (schemathesis).

Shared by the bounded run in ``make test`` (tests/fuzz/test_fuzz_openapi.py) and the long one in
``make fuzz`` (FUZZ_EXAMPLES raises the number of cases per operation).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import httpx
from schemathesis import checks

from gateway.openapi.operations import ACCESS_TOKEN, GATEWAY_KEY, OPERATIONS

# What must hold for every response: no 5xx, a documented status, content type and body.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]

AUTH = {(op.method, op.path): op.auth for op in OPERATIONS}


def examples_per_operation(default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES", default))


@dataclass
class Credentials:
    """A signed-up user: its access token for /api and a gateway key for /v1."""

    base_url: str
    email: str
    password: str
    access_token: str
    gateway_key: str

    @classmethod
    def sign_up(cls, base_url: str, email: str, password: str = "fuzzing password 1") -> Credentials:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            session = client.post("/api/auth/signup", json={"email": email, "password": password})
            session.raise_for_status()
            token = session.json()["token"]
            key = client.post("/api/keys/gateway", json={"name": "fuzz"},
                              headers={"Authorization": f"Bearer {token}"})
            key.raise_for_status()
        return cls(base_url, email, password, token, key.json()["key"])

    def throwaway_access_token(self) -> str:
        """A session of a new user, for operations that end the session they are given (logout)."""
        return Credentials.sign_up(self.base_url, f"{uuid.uuid4().hex}@example.com").access_token

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        scheme = AUTH.get((method.upper(), path))
        if scheme == GATEWAY_KEY:
            return {"Authorization": f"Bearer {self.gateway_key}"}
        if scheme == ACCESS_TOKEN:
            token = self.throwaway_access_token() if path == "/api/auth/logout" else self.access_token
            return {"Authorization": f"Bearer {token}"}
        return {}
