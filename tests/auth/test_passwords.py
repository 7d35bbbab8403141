"""Password hashing: the dummy hash for unknown emails is made on first use, not at import."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from gateway.auth import passwords


def test_import_does_not_hash() -> None:
    """A bare import leaves the dummy hash unmade (it would claim 64 MiB in every worker)."""
    code = (
        "from gateway.auth import passwords\n"
        "print(passwords._dummy_hash.cache_info().currsize)\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    made, peak_kib = out.split()
    assert made == "0"
    assert int(peak_kib) < 100 * 1024  # one argon2 hash alone would add 64 MiB


def test_unknown_user_verifies_against_dummy_and_fails() -> None:
    assert asyncio.run(passwords.verify_password(None, "any password")) is False
    assert passwords._dummy_hash.cache_info().currsize == 1
    dummy = passwords._dummy_hash()
    assert dummy.startswith("$argon2id$")
    phrase = "switchyard-dummy-password-for-constant-time-login"
    assert asyncio.run(passwords.verify_password(dummy, phrase)) is True


def test_known_hash_round_trip() -> None:
    async def round_trip() -> tuple[bool, bool]:
        hashed = await passwords.hash_password("correct horse")
        return (await passwords.verify_password(hashed, "correct horse"),
                await passwords.verify_password(hashed, "wrong horse"))

    assert asyncio.run(round_trip()) == (True, False)
