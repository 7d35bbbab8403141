"""The rate limit's own pipelined Redis connection, against a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.exceptions import ResponseError

from gateway.ratelimit.script_client import ScriptClient, pack_command
from gateway.redis_client import connect_redis

ECHO = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"


def test_commands_are_packed_as_resp_arrays() -> None:
    expected = b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n"
    assert pack_command("EVALSHA", b"ab", 1, "k") == expected


def test_concurrent_calls_get_their_own_replies_and_a_flushed_script_is_resent(redis_url: str) -> None:
    async def scenario() -> tuple[list, list]:
        redis = connect_redis(redis_url)
        client = ScriptClient.for_redis(redis, ECHO)
        assert client is not None
        try:
            first = await asyncio.gather(*(client([f"k{i}"], [f"a{i}", i]) for i in range(50)))
            await redis.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
            second = await asyncio.gather(*(client(["k"], ["b", i]) for i in range(5)))
            return first, second
        finally:
            await client.aclose()
            await redis.aclose()

    first, second = asyncio.run(scenario())
    assert first == [[f"k{i}".encode(), f"a{i}".encode(), i + 1] for i in range(50)]
    assert second == [[b"k", b"b", i + 1] for i in range(5)]


def test_error_replies_and_unreachable_servers_raise_what_the_limiter_catches(redis_url: str) -> None:
    async def failing_script() -> None:
        redis = connect_redis(redis_url)
        client = ScriptClient.for_redis(redis, "return redis.call('INCR', KEYS[1])")
        key = f"not-a-number:{uuid.uuid4().hex}"
        await redis.set(key, "text")
        try:
            await client([key], [])
        finally:
            await client.aclose()
            await redis.delete(key)
            await redis.aclose()

    with pytest.raises(ResponseError):
        asyncio.run(failing_script())

    async def unreachable() -> None:
        await ScriptClient(ECHO, "127.0.0.1", 1)(["k"], ["a", 1])

    with pytest.raises(OSError):
        asyncio.run(unreachable())


def test_a_database_number_is_selected(redis_url: str) -> None:
    other_db = redis_url.rsplit("/", 1)[0] + "/5"
    key = f"db-check:{uuid.uuid4().hex}"

    async def scenario() -> tuple[int, int]:
        redis = connect_redis(other_db)
        client = ScriptClient.for_redis(redis, "return redis.call('INCR', KEYS[1])")
        default = connect_redis(redis_url)
        try:
            await client([key], [])
            return await redis.exists(key), await default.exists(key)
        finally:
            await client.aclose()
            await redis.delete(key)
            await redis.aclose()
            await default.aclose()

    in_selected, in_default = asyncio.run(scenario())
    assert (in_selected, in_default) == (1, 0)


def test_a_connection_closed_by_redis_is_replaced_on_the_next_call(redis_url: str) -> None:
    async def scenario() -> tuple[list, list, bool]:
        redis = connect_redis(redis_url)
        client = ScriptClient.for_redis(redis, ECHO)
        try:
            before = await client(["k"], ["a", 1])
            host, port = client._pipe.transport.get_extra_info("sockname")[:2]
            killed = await redis.client_kill(f"{host}:{port}")  # only this client's own connection
            after = await client(["k"], ["a", 2])
            return before, after, killed
        finally:
            await client.aclose()
            await redis.aclose()

    before, after, killed = asyncio.run(scenario())
    assert killed is True
    assert (before, after) == ([b"k", b"a", 2], [b"k", b"a", 3])
