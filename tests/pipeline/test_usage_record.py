"""The request path's rendered usage event is byte for byte ``UsageEvent(...).to_bytes()``.

The chat handler builds its event as a dict (``usage_event_fields``) and renders it with orjson
(``usage_event_bytes``); consumers and ClickHouse must see exactly what the pydantic model gives.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from asyncpg.pgproto.pgproto import UUID as PostgresUUID

from gateway.chat.handler import RequestContext, _cost, usage_event_fields
from gateway.events.usage_record import (
    ATTEMPT_FIELDS,
    EVENT_FIELDS,
    attempt_record,
    new_event_id,
    usage_event_bytes,
)
from gateway.keys.gateway_auth import GatewayPrincipal
from gateway.providers.base import Usage
from gateway.routing.catalog import load_catalog
from gateway.routing.classifier import classify
from schemas import UsageEvent
from schemas.fast_check import fast_event_id

CATALOG = load_catalog()
BODY = {"model": "auto", "messages": [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "Name three primes, é ✓."}]}


def _context(stream: bool = False, with_model: bool = True, user_agent: str = "OpenAI/Python 1.99") -> Any:
    models = CATALOG.all()
    ctx = RequestContext(
        request_id="chatcmpl-" + uuid.uuid4().hex[:24],
        received_at=datetime.now(UTC) - timedelta(milliseconds=40),
        started=time.monotonic() - 0.04,
        principal=GatewayPrincipal(user_id=uuid.uuid4(), key_id=uuid.uuid4(), plan="free"),
        requested_model="auto",
        classification=classify(BODY),
        model=models[0] if with_model else None,
        stream=stream,
        client_ip="203.0.113.7",
        user_agent=user_agent,
    )
    return ctx, models


def _assert_same_bytes(fields: dict[str, Any]) -> bytes:
    assert tuple(fields) == EVENT_FIELDS
    rendered = usage_event_bytes(fields)
    assert rendered == UsageEvent(**fields).to_bytes()
    return rendered


def _event_of(ctx: RequestContext, usage: Usage | None, **kwargs: Any) -> dict[str, Any]:
    cost = _cost(ctx.model, usage) if ctx.model is not None and usage is not None else Decimal(0)
    return usage_event_fields(ctx, usage=usage, cost=cost, **kwargs)


def test_field_orders_match_the_model() -> None:
    assert EVENT_FIELDS[:3] == ("schema_version", "event_id", "request_id")
    assert tuple(attempt_record("m", "p", "ok", 1.0, 200)) == ATTEMPT_FIELDS


def test_non_streaming_success() -> None:
    ctx, models = _context()
    ctx.attempts.append(attempt_record(models[0].id, models[0].provider, "ok", 12.345, 200))
    usage = Usage(prompt_tokens=1234, cached_tokens=200, completion_tokens=56, reasoning_tokens=7)
    data = _assert_same_bytes(_event_of(ctx, usage, status="ok", http_status=200))
    assert fast_event_id(data) is not None  # the loader's fast path takes it as is


def test_streaming_with_first_token() -> None:
    ctx, models = _context(stream=True)
    ctx.attempts.append(attempt_record(models[0].id, models[0].provider, "ok", 3.0, 200))
    usage = Usage(prompt_tokens=40, completion_tokens=300, cache_write_tokens=12)
    fields = _event_of(ctx, usage, status="ok", http_status=200, first_token_at=ctx.started + 0.0123456)
    assert fields["first_token_at"] is not None and fields["ttft_ms"] is not None
    _assert_same_bytes(fields)


def test_stream_cancelled_by_client() -> None:
    ctx, models = _context(stream=True)
    ctx.attempts.append(attempt_record(models[0].id, models[0].provider, "ok", 0.5, 200))
    _assert_same_bytes(_event_of(ctx, Usage(prompt_tokens=9), status="cancelled", http_status=499,
                                 error_code="client_disconnected", first_token_at=ctx.started + 0.2))


def test_error_before_routing() -> None:
    ctx, _ = _context(with_model=False)
    ctx.classification = None
    fields = _event_of(ctx, None, status="rate_limited", http_status=429, error_code="rate_limited")
    assert fields["routed_model"] == "" and fields["complexity"] == ""
    _assert_same_bytes(fields)


def test_fallback_attempts() -> None:
    ctx, models = _context()
    first, second = models[0], models[-1]
    ctx.attempts += [
        attempt_record(first.id, first.provider, "upstream_overloaded", 101.5, 529),
        attempt_record(first.id, first.provider, "timeout", 30000.0, 504),
        attempt_record(second.id, second.provider, "ok", 0.001, 200),
    ]
    ctx.model = second
    data = _assert_same_bytes(_event_of(ctx, Usage(prompt_tokens=10, completion_tokens=5), status="ok",
                                        http_status=200))
    assert UsageEvent.from_bytes(data).attempts[0].outcome == "upstream_overloaded"


def test_upstream_error_after_fallbacks() -> None:
    ctx, models = _context()
    ctx.attempts.append(attempt_record(models[0].id, models[0].provider, "timeout", 60000.0, 504))
    _assert_same_bytes(_event_of(ctx, None, status="timeout", http_status=504, error_code="timeout"))


def test_ids_as_postgres_returns_them() -> None:
    """asyncpg hands out its own UUID subclass; the bytes are the same as for ``uuid.UUID``."""
    ctx, _ = _context()
    principal = ctx.principal
    ctx.principal = GatewayPrincipal(user_id=PostgresUUID(str(principal.user_id)),
                                     key_id=PostgresUUID(str(principal.key_id)), plan="free")
    data = _assert_same_bytes(_event_of(ctx, Usage(prompt_tokens=3), status="ok", http_status=200))
    assert f'"user_id":"{principal.user_id}"'.encode() in data


def test_cache_hit() -> None:
    ctx, _ = _context()
    fields = usage_event_fields(ctx, usage=None, status="ok", http_status=200, cost=Decimal(0),
                                cache_hit=True)
    data = _assert_same_bytes(fields)
    assert b'"cost_usd":"0"' in data and b'"cache_hit":true' in data


def test_awkward_strings_and_numbers() -> None:
    """Escapes, non-ASCII, long agents, tiny and large numbers, exact costs: still the same bytes."""
    rng = random.Random(9)
    agents = ["", "a\u001fb\n\t\"quoted\"\\", "ünïcödé ✓ \u2028 \U0001f600", "x" * 400, "Mozilla/5.0 (X11)"]
    for i in range(400):
        ctx, models = _context(stream=bool(i % 2), user_agent=agents[i % len(agents)])
        model = models[i % len(models)]
        ctx.model = model
        ctx.attempts.append(attempt_record(model.id, model.provider, "ok",
                                           round(rng.uniform(0, 10 ** rng.randint(-3, 8)), 3), 200))
        usage = Usage(prompt_tokens=rng.randint(1000, 2_000_000), cached_tokens=rng.randint(0, 1000),
                      completion_tokens=rng.randint(0, 100_000), reasoning_tokens=rng.randint(0, 10))
        ctx.started = time.monotonic() - rng.uniform(0, 10 ** rng.randint(-4, 5))
        fields = _event_of(ctx, usage, status="ok", http_status=200,
                           first_token_at=ctx.started + rng.uniform(0, 0.5) if i % 2 else None)
        fields["cost_usd"] = Decimal(rng.randint(0, 10**17 // 10 ** rng.randint(0, 17))) / Decimal(10**9)
        _assert_same_bytes(fields)


@pytest.mark.parametrize("tokens", [-1, 2**32])
def test_token_counts_out_of_bounds_are_rejected_as_before(tokens: int) -> None:
    ctx, _ = _context()
    fields = usage_event_fields(ctx, usage=Usage(completion_tokens=tokens), status="ok", http_status=200,
                                cost=Decimal(0))
    with pytest.raises(pydantic.ValidationError):
        usage_event_bytes(fields)


def test_event_ids_are_unique_time_ordered_uuid7() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(text) for text in ids]
    assert all(str(u) == text for u, text in zip(parsed, ids, strict=True))  # canonical text
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuid.RFC_4122}
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)
    assert abs(millis[-1] - time.time() * 1000) < 5_000


def test_a_forked_child_never_repeats_the_parents_event_ids() -> None:
    new_event_id()  # the parent holds a partly used pool of random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        os.write(write_end, "\n".join(new_event_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    parent = {new_event_id() for _ in range(50)}
    with os.fdopen(read_end, "rb") as pipe:
        child = set(pipe.read().decode().split("\n"))
    os.waitpid(pid, 0)
    assert len(child) == 50
    random_parts = {text[-12:] for text in parent}
    assert not random_parts & {text[-12:] for text in child}
