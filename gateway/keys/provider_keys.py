"""Decrypted provider keys for the chat hot path, cached in-process for a second.

The short TTL bounds how long another process may keep using a replaced or removed key; changes
made through this process invalidate its cache at once. When an entry expires under load, the
concurrent requests of that user share one Postgres query instead of each running its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from gateway.keys.provider_store import KeyRotationError, load_provider_keys, rotate_provider_keys
from gateway.state import AppState

__all__ = ["KeyRotationError", "ProviderKeyCache", "rotate_provider_keys", "user_provider_keys"]

_CACHE_KEY = "provider_key_cache"


class ProviderKeyCache:
    def __init__(self, ttl_s: float = 1.0, max_users: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_users = max_users
        self._entries: OrderedDict[UUID, tuple[float, dict[str, str]]] = OrderedDict()
        self._loading: dict[UUID, asyncio.Future[dict[str, str]]] = {}

    def get(self, user_id: UUID) -> dict[str, str] | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, user_id: UUID, keys: dict[str, str]) -> None:
        self._entries[user_id] = (time.monotonic() + self.ttl_s, keys)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_users:
            self._entries.popitem(last=False)

    def invalidate(self, user_id: UUID) -> None:
        self._entries.pop(user_id, None)
        self._loading.pop(user_id, None)  # a load already running may have read the old keys

    async def load(self, user_id: UUID, loader: Callable[[], Awaitable[dict[str, str]]]) -> dict[str, str]:
        """The user's keys from ``loader``, run once for all concurrent callers, then cached."""
        pending = self._loading.get(user_id)
        if pending is None:
            pending = asyncio.ensure_future(loader())
            self._loading[user_id] = pending

            def done(future: asyncio.Future[dict[str, str]]) -> None:
                failed = future.cancelled() or future.exception() is not None  # marks it retrieved
                if self._loading.get(user_id) is future:
                    del self._loading[user_id]
                    if not failed:
                        self.put(user_id, future.result())

            pending.add_done_callback(done)
        # Shielded: one caller going away (a client disconnect) does not cancel the others' load.
        return await asyncio.shield(pending)


def provider_key_cache(state: AppState) -> ProviderKeyCache:
    cache = state.extras.get(_CACHE_KEY)
    if cache is None:
        cache = state.extras[_CACHE_KEY] = ProviderKeyCache()
    return cache


async def user_provider_keys(state: AppState, user_id: UUID) -> dict[str, str]:
    """This user's decrypted provider keys by provider name (a copy; safe to modify)."""
    cache = provider_key_cache(state)
    keys = cache.get(user_id)
    if keys is None:
        keys = await cache.load(user_id, lambda: load_provider_keys(state.db, state.settings, user_id))
    return dict(keys)
