"""Password hashing with argon2id, off the event loop.

Hashing runs on a small dedicated thread pool: argon2 is CPU- and memory-hard by design, so the pool
size caps both the CPU it takes from request handling and the memory (64 MiB per hash by default)
that a burst of signups or logins can claim.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="argon2")


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both failure paths cost one argon2 verification.

    Made on first use, not at import: one hash claims 64 MiB, which would otherwise set the peak
    memory of every worker, including those that never see a login.
    """
    return _hasher.hash("switchyard-dummy-password-for-constant-time-login")


async def _run(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


async def hash_password(password: str) -> str:
    return await _run(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify_against_dummy(password: str) -> bool:
    return _verify(_dummy_hash(), password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; with no hash (unknown user) verifies a dummy and returns False."""
    if password_hash is None:
        await _run(_verify_against_dummy, password)
        return False
    return await _run(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
