"""Production refuses development secrets; the master-key ring parses strictly and binds ciphertexts."""

from __future__ import annotations

import base64
import secrets
import uuid

import pytest

from gateway.keys.crypto import DecryptionError, MasterKeyRing, Sealed, associated_data
from gateway.settings import DEV_MASTER_KEY, DEV_SECRET, Settings


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def prod(**overrides: str) -> Settings:
    values = {"jwt_secret": secrets.token_urlsafe(48), **overrides}
    return Settings(environment="production", **values)


def test_production_refuses_the_default_secrets() -> None:
    with pytest.raises(SystemExit) as refused:
        Settings(environment="production").check_production_secrets()
    assert "JWT_SECRET" in str(refused.value) and "MASTER_KEYS" in str(refused.value)


def test_production_refuses_a_short_jwt_secret_or_the_dev_master_key() -> None:
    with pytest.raises(SystemExit, match="JWT_SECRET"):
        prod(jwt_secret="short", master_keys=f"k1:{_key()}").check_production_secrets()
    with pytest.raises(SystemExit, match="MASTER_KEYS"):
        prod(master_keys=f"k2:{_key()},k1:{DEV_MASTER_KEY}").check_production_secrets()


@pytest.mark.parametrize("spelling", ["production", "Production", " PRODUCTION ", "prod"])
def test_every_spelling_of_production_checks_the_secrets(
    spelling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV", spelling)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    settings = Settings.from_env()
    assert settings.is_production
    with pytest.raises(SystemExit, match="JWT_SECRET"):
        settings.check_production_secrets()


def test_an_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV", "staging")
    with pytest.raises(SystemExit, match="SWITCHYARD_ENV"):
        Settings.from_env()


def test_production_accepts_real_secrets_and_development_accepts_defaults() -> None:
    prod(master_keys=f"k1:{_key()}").check_production_secrets()
    Settings(jwt_secret=DEV_SECRET).check_production_secrets()


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "k1",
        f":{_key()}",
        "k1:not base64!",
        f"k1:{base64.b64encode(b'short').decode()}",
        f"k1:{_key()},k1:{_key()}",
    ],
)
def test_bad_master_key_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        MasterKeyRing.parse(spec)


def test_first_key_encrypts_and_every_key_decrypts() -> None:
    old = MasterKeyRing.parse(f"old:{_key()}")
    both = MasterKeyRing.parse(f"new:{_key()}, old:{base64.b64encode(old.keys['old']).decode()}")
    aad = associated_data(uuid.uuid4(), "openai")
    sealed_old = old.encrypt("sk-secret", aad)
    assert sealed_old.key_id == "old" and b"sk-secret" not in sealed_old.ciphertext
    assert both.decrypt(sealed_old, aad) == "sk-secret"
    sealed_new = both.encrypt("sk-secret", aad)
    assert sealed_new.key_id == "new" and sealed_new.nonce != sealed_old.nonce
    with pytest.raises(DecryptionError, match="unknown master key"):
        old.decrypt(sealed_new, aad)


def test_associated_data_binds_user_and_provider() -> None:
    ring = MasterKeyRing.parse(f"k1:{_key()}")
    user = uuid.uuid4()
    sealed = ring.encrypt("sk-secret", associated_data(user, "openai"))
    for aad in (associated_data(uuid.uuid4(), "openai"), associated_data(user, "anthropic")):
        with pytest.raises(DecryptionError):
            ring.decrypt(sealed, aad)
    tampered = Sealed(sealed.key_id, sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, associated_data(user, "openai"))
