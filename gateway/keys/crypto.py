"""AES-256-GCM for provider keys at rest, under a ring of named master keys.

``MASTER_KEYS`` is ``id:base64key,id2:base64key2``; the first key encrypts, every listed key decrypts.
Each ciphertext is bound to its owner and provider through the associated data, so a row copied to
another user or provider fails authentication instead of decrypting.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """Unknown master key id, or a ciphertext that fails authentication."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def associated_data(user_id: UUID, provider: str) -> bytes:
    return f"switchyard:provider-key:v1:{user_id}:{provider}".encode()


@dataclass(frozen=True)
class MasterKeyRing:
    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> MasterKeyRing:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise ValueError("MASTER_KEYS entries must look like id:base64key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise ValueError(f"MASTER_KEYS key {key_id!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise ValueError(f"MASTER_KEYS key {key_id!r} must decode to {KEY_BYTES} bytes")
            if key_id in keys:
                raise ValueError(f"MASTER_KEYS lists key id {key_id!r} twice")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise ValueError("MASTER_KEYS must hold at least one key")
        return cls(current_id=order[0], keys=keys)

    def encrypt(self, plaintext: str, aad: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext.encode(), aad)
        return Sealed(self.current_id, nonce, ciphertext)

    def decrypt(self, sealed: Sealed, aad: bytes) -> str:
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise DecryptionError(f"unknown master key id {sealed.key_id!r}")
        try:
            return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None


@lru_cache(maxsize=8)
def key_ring(master_keys: str) -> MasterKeyRing:
    return MasterKeyRing.parse(master_keys)
