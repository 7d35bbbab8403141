"""The hot path's provider-key cache: one load per user however many requests miss at once."""

from __future__ import annotations

import asyncio
import uuid

from gateway.keys.provider_keys import ProviderKeyCache


def test_concurrent_misses_share_one_load_and_then_hit_the_cache() -> None:
    user = uuid.uuid4()
    loads: list[int] = []

    async def loader() -> dict[str, str]:
        loads.append(1)
        await asyncio.sleep(0.01)
        return {"openai": f"sk-{len(loads)}"}

    async def scenario() -> tuple[list[dict[str, str]], dict[str, str] | None]:
        cache = ProviderKeyCache(ttl_s=60)
        answers = await asyncio.gather(*(cache.load(user, loader) for _ in range(20)))
        return answers, cache.get(user)

    answers, cached = asyncio.run(scenario())
    assert len(loads) == 1
    assert answers == [{"openai": "sk-1"}] * 20
    assert cached == {"openai": "sk-1"}


def test_invalidation_during_a_load_makes_the_next_caller_load_again() -> None:
    user = uuid.uuid4()
    versions = iter(["old", "new"])

    async def loader() -> dict[str, str]:
        value = next(versions)
        await asyncio.sleep(0.01)
        return {"openai": value}

    async def scenario() -> tuple[dict[str, str], dict[str, str], dict[str, str] | None]:
        cache = ProviderKeyCache(ttl_s=60)
        stale = asyncio.ensure_future(cache.load(user, loader))
        await asyncio.sleep(0)
        cache.invalidate(user)  # the key was replaced while the first load was reading
        fresh = await cache.load(user, loader)
        return await stale, fresh, cache.get(user)

    stale, fresh, cached = asyncio.run(scenario())
    assert stale == {"openai": "old"}
    assert fresh == {"openai": "new"}
    assert cached == {"openai": "new"}  # the stale load did not overwrite the newer entry


def test_a_failed_load_is_not_cached() -> None:
    user = uuid.uuid4()

    async def broken() -> dict[str, str]:
        raise ConnectionError("database went away")

    async def scenario() -> tuple[int, dict[str, str] | None]:
        cache = ProviderKeyCache(ttl_s=60)
        results = await asyncio.gather(*(cache.load(user, broken) for _ in range(3)), return_exceptions=True)
        return sum(isinstance(r, ConnectionError) for r in results), cache.get(user)

    assert asyncio.run(scenario()) == (3, None)
