"""In-process cache of gateway keys, so a hot key costs no Postgres query per request.

Correctness rests on a revocation poller: every ``poll_interval_s`` it asks Postgres which keys were
revoked in the last ``overlap_s`` seconds (an indexed range scan) and evicts them. The overlap makes
each revocation seen by several polls, which covers both commit lag and a look-up that read a key
just before it was revoked. Cached entries are only trusted while polls keep succeeding: if the
last good poll is older than ``trust_window_s``, every look-up goes to Postgres.

Use of a key is recorded in memory and written to ``last_used_at`` at most once per key per
``last_used_interval_s`` (and on stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from gateway.keys.gateway_store import KeyOwner, find_active_key, record_last_used

log = logging.getLogger("switchyard.keys.cache")

_POLL_SQL = (
    "SELECT clock_timestamp() AS now,"
    " array(SELECT key_hash FROM gateway_keys WHERE revoked_at > $1) AS revoked"
)


class GatewayKeyCache:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        poll_interval_s: float = 0.25,
        overlap_s: float = 5.0,
        trust_window_s: float = 1.0,
        positive_ttl_s: float = 60.0,
        negative_ttl_s: float = 2.0,
        max_entries: int = 100_000,
        last_used_interval_s: float = 60.0,
        flush_check_s: float = 5.0,
    ) -> None:
        self.pool = pool
        self.poll_interval_s = poll_interval_s
        self.overlap = timedelta(seconds=overlap_s)
        self.trust_window_s = trust_window_s
        self.positive_ttl_s = positive_ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_entries = max_entries
        self.last_used_interval_s = last_used_interval_s
        self.flush_check_s = flush_check_s
        self._positive: OrderedDict[bytes, tuple[float, KeyOwner]] = OrderedDict()
        self._negative: OrderedDict[bytes, float] = OrderedDict()
        self._cursor: datetime | None = None
        self._last_poll_ok = float("-inf")
        self._pending_uses: dict[UUID, datetime] = {}
        self._last_flushed: dict[UUID, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.hits = 0
        self.misses = 0

    # -- look-ups ---------------------------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        return time.monotonic() - self._last_poll_ok < self.trust_window_s

    async def lookup(self, key_hash: bytes) -> KeyOwner | None:
        """The key's owner if the key is active, else None. Raises on database errors."""
        now = time.monotonic()
        if self.trusted:
            entry = self._positive.get(key_hash)
            if entry is not None and entry[0] > now:
                self.hits += 1
                return entry[1]
            expiry = self._negative.get(key_hash)
            if expiry is not None and expiry > now:
                self.hits += 1
                return None
        self.misses += 1
        owner = await find_active_key(self.pool, key_hash)
        self._remember(key_hash, owner)
        return owner

    def _remember(self, key_hash: bytes, owner: KeyOwner | None) -> None:
        now = time.monotonic()
        if owner is None:
            self._positive.pop(key_hash, None)
            self._negative[key_hash] = now + self.negative_ttl_s
            self._negative.move_to_end(key_hash)
            while len(self._negative) > self.max_entries:
                self._negative.popitem(last=False)
        else:
            self._negative.pop(key_hash, None)
            self._positive[key_hash] = (now + self.positive_ttl_s, owner)
            self._positive.move_to_end(key_hash)
            while len(self._positive) > self.max_entries:
                self._positive.popitem(last=False)

    def evict(self, key_hash: bytes) -> None:
        self._positive.pop(key_hash, None)

    # -- revocation poller --------------------------------------------------------------------------

    async def poll_once(self) -> int:
        """Evict recently revoked keys; returns how many revocations the window held."""
        if self._cursor is None:
            self._cursor = await self.pool.fetchval("SELECT clock_timestamp()") - self.overlap
        row = await self.pool.fetchrow(_POLL_SQL, self._cursor)
        assert row is not None
        for key_hash in row["revoked"]:
            self.evict(key_hash)
        self._cursor = row["now"] - self.overlap
        self._last_poll_ok = time.monotonic()
        return len(row["revoked"])

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep polling; the cache stops being trusted meanwhile
                log.warning("gateway key revocation poll failed: %s", exc)
            await asyncio.sleep(self.poll_interval_s)

    # -- last_used_at -------------------------------------------------------------------------------

    def note_use(self, key_id: UUID) -> None:
        self._pending_uses[key_id] = datetime.now(UTC)

    async def flush_uses(self, force: bool = False) -> int:
        """Write pending uses of keys not written in the last interval (all of them when forced)."""
        now = time.monotonic()
        due = {
            key_id: used_at
            for key_id, used_at in self._pending_uses.items()
            if force or now - self._last_flushed.get(key_id, float("-inf")) >= self.last_used_interval_s
        }
        if not due:
            return 0
        await record_last_used(self.pool, due)
        for key_id, used_at in due.items():
            if self._pending_uses.get(key_id) == used_at:
                del self._pending_uses[key_id]
            self._last_flushed[key_id] = now
        stale = [k for k, t in self._last_flushed.items() if now - t >= self.last_used_interval_s]
        for key_id in stale:
            if key_id not in self._pending_uses:
                del self._last_flushed[key_id]
        return len(due)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_check_s)
            try:
                await self.flush_uses()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("gateway key last_used_at flush failed: %s", exc)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.poll_once()
        self._tasks = [
            asyncio.create_task(self._poll_forever(), name="gateway-key-revocations"),
            asyncio.create_task(self._flush_forever(), name="gateway-key-last-used"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._last_poll_ok = float("-inf")
        try:
            await self.flush_uses(force=True)
        except Exception as exc:
            log.warning("final gateway key last_used_at flush failed: %s", exc)
