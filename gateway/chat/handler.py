"""``POST /v1/chat/completions``: the gateway's hot path.

auth -> validate -> classify -> route -> upstream (with fallbacks) -> answer -> one usage event.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway import metrics
from gateway.cache import CachedAnswer, ResponseCache, StreamCollector, cache_key, cache_policy
from gateway.chat.breaker import OPERATOR
from gateway.chat.disconnect import unless_client_leaves
from gateway.chat.validation import validate_chat_request
from gateway.errors import ApiError, error_body
from gateway.events.usage_record import attempt_record, new_event_id, usage_event_bytes
from gateway.http import json_response, read_json
from gateway.keys.gateway_auth import GatewayPrincipal, authenticate_gateway_key
from gateway.keys.provider_keys import user_provider_keys
from gateway.providers.base import ChatStream, Completion, UpstreamCall, UpstreamError, Usage
from gateway.ratelimit import enforce_v1_limits
from gateway.routing.catalog import Model
from gateway.routing.classifier import Classification, classify
from gateway.routing.pricing import cost_usd
from gateway.routing.router import RoutingError, route
from gateway.state import AppState, get_state
from schemas import SCHEMA_VERSION

log = logging.getLogger("switchyard.chat")

_NO_USAGE = Usage()

@dataclass
class RequestContext:
    """Everything known about one chat request, gathered for its usage event."""

    request_id: str
    received_at: datetime
    started: float
    principal: GatewayPrincipal | None = None
    requested_model: str = ""
    classification: Classification | None = None
    model: Model | None = None
    stream: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)  # ``attempt_record`` dicts
    client_ip: str = ""
    user_agent: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)  # X-RateLimit-*
    cache_store: tuple[ResponseCache, str] | None = None  # where to keep the answer, if cacheable

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000


def _new_request_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


@functools.lru_cache(maxsize=4096)
def _ip_hash(ip: str) -> str:
    return hashlib.sha256(b"switchyard-ip:" + ip.encode()).hexdigest()[:16] if ip else ""


def _header_text(value: str) -> str:
    """A header's text: clients send UTF-8, which the ASGI server hands over decoded as latin-1."""
    return value if value.isascii() else value.encode("latin-1").decode("utf-8", "replace")


def _available_providers(state: AppState, user_keys: dict[str, str]) -> frozenset[str]:
    operator = {name for name, cfg in state.settings.providers.items() if cfg.api_key}
    return frozenset(operator | set(user_keys))


def _api_key(state: AppState, provider: str, user_keys: dict[str, str]) -> str:
    return user_keys.get(provider) or state.settings.providers[provider].api_key


def _metadata_headers(ctx: RequestContext, cost: Decimal | None, cache_hit: bool = False) -> dict[str, str]:
    headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
    if ctx.model is not None:
        headers["x-switchyard-routed-to"] = ctx.model.id
    if ctx.classification is not None:
        headers["x-switchyard-complexity"] = ctx.classification.complexity
    if cost is not None:
        headers["x-switchyard-cost-usd"] = str(cost)
    headers["x-switchyard-cache-hit"] = "true" if cache_hit else "false"
    return headers


def _cost(model: Model, usage: Usage) -> Decimal:
    return cost_usd(
        model,
        input_tokens=usage.prompt_tokens,
        cached_input_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.completion_tokens,
    )


def usage_event_fields(
    ctx: RequestContext,
    *,
    usage: Usage | None,
    status: str,
    http_status: int,
    cost: Decimal,
    error_code: str = "",
    first_token_at: float | None = None,
    cache_hit: bool = False,
) -> dict[str, Any]:
    """Every field of the request's ``UsageEvent``, in its order (see ``gateway.events.usage_record``)."""
    usage = usage or _NO_USAGE
    model = ctx.model
    ttft_ms = (first_token_at - ctx.started) * 1000 if first_token_at is not None else None
    principal = ctx.principal
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": new_event_id(),
        "request_id": ctx.request_id,
        "user_id": principal.user_id,
        "gateway_key_id": principal.key_id,
        "received_at": ctx.received_at,
        "first_token_at": (
            datetime.fromtimestamp(ctx.received_at.timestamp() + ttft_ms / 1000, UTC)
            if ttft_ms is not None
            else None
        ),
        "finished_at": datetime.now(UTC),
        "requested_model": ctx.requested_model,
        "routed_model": model.id if model else "",
        "provider": model.provider if model else "",
        "complexity": ctx.classification.complexity if ctx.classification else "",
        "stream": ctx.stream,
        "status": status,
        "error_code": error_code,
        "http_status": http_status,
        "input_tokens": usage.prompt_tokens,
        "cached_input_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost_usd": cost,
        "latency_ms": round(ctx.elapsed_ms(), 3),
        "ttft_ms": round(ttft_ms, 3) if ttft_ms is not None else None,
        "cache_hit": cache_hit,
        "attempts": ctx.attempts,
        "client_ip_hash": _ip_hash(ctx.client_ip),
        "user_agent": ctx.user_agent[:256],
    }


@functools.lru_cache(maxsize=4096)
def _partition_key(user_id: UUID) -> bytes:
    return str(user_id).encode()


def _emit(
    state: AppState,
    ctx: RequestContext,
    *,
    usage: Usage | None,
    status: str,
    http_status: int,
    error_code: str = "",
    first_token_at: float | None = None,
    cache_hit: bool = False,
) -> Decimal:
    """Record the request's one usage event; returns the cost billed (zero for a cache hit)."""
    if ctx.principal is None:
        return Decimal(0)
    cost = _cost(ctx.model, usage or _NO_USAGE) if ctx.model is not None and not cache_hit else Decimal(0)
    fields = usage_event_fields(ctx, usage=usage, status=status, http_status=http_status, cost=cost,
                                error_code=error_code, first_token_at=first_token_at, cache_hit=cache_hit)
    state.producer.emit_record(_partition_key(ctx.principal.user_id), usage_event_bytes(fields))
    metrics.labelled(metrics.REQUESTS, status, fields["routed_model"], fields["provider"]).inc()
    stream_label = "true" if ctx.stream else "false"
    metrics.labelled(metrics.REQUEST_SECONDS, stream_label).observe(fields["latency_ms"] / 1000)
    return cost


async def chat_completions(request: Request) -> Response:
    state = get_state(request)
    ctx = RequestContext(
        request_id=_new_request_id(),
        received_at=datetime.now(UTC),
        started=time.monotonic(),
        client_ip=request.client.host if request.client else "",
        user_agent=_header_text(request.headers.get("user-agent", "")),
    )
    try:
        ctx.principal = await authenticate_gateway_key(state, request.headers.get("authorization"))
        ctx.response_headers = await enforce_v1_limits(state, ctx.principal, ctx.client_ip)
        body = validate_chat_request(
            await read_json(request, state.settings.max_body_bytes, state.settings.max_json_depth)
        )
        ctx.requested_model = body.get("model") or "auto"
        ctx.stream = bool(body.get("stream"))
        ctx.classification = classify(body)
        user_keys = await user_provider_keys(state, ctx.principal.user_id)
        try:
            candidates = route(
                body, ctx.classification, state.catalog, _available_providers(state, user_keys)
            )
        except RoutingError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
        hit = await _cache_lookup(state, ctx, request, body, candidates[0])
        if hit is not None:
            return _serve_hit(state, ctx, body, hit)
        answer = _stream if ctx.stream else _complete
        return await unless_client_leaves(request.receive, answer(state, ctx, body, candidates, user_keys))
    except ApiError as exc:
        _emit(state, ctx, usage=None, status=_status_for(exc.status, exc.code), http_status=exc.status,
              error_code=exc.code)
        headers = {**ctx.response_headers, **exc.headers, "x-request-id": ctx.request_id}
        return json_response(error_body(exc.status, exc.code, exc.message, exc.details),
                             status=exc.status, headers=headers)
    except UpstreamError as exc:
        _emit(state, ctx, usage=None, status=_status_for(exc.status, exc.code), http_status=exc.status,
              error_code=exc.code)
        headers = {**ctx.response_headers, "x-request-id": ctx.request_id}
        if exc.retry_after is not None:
            headers["retry-after"] = str(int(exc.retry_after + 0.999))
        return json_response(exc.to_body(), status=exc.status, headers=headers)


def _status_for(http_status: int, code: str = "") -> str:
    if code == "client_disconnected":
        return "cancelled"
    if http_status == 429 and code in ("rate_limited", ""):
        return "rate_limited"
    if code == "timeout":
        return "timeout"
    return "error"


def _call(state: AppState, ctx: RequestContext, body: dict, model: Model, user_keys: dict[str, str]):
    return UpstreamCall(
        request=body,
        upstream_model=model.upstream_id,
        public_model=model.id,
        api_key=_api_key(state, model.provider, user_keys),
        default_max_tokens=model.default_max_tokens,
        reasoning_model=model.reasoning,
        response_id=ctx.request_id,
        created=int(time.time()),
    )


def _circuit_owner(ctx: RequestContext, provider: str, user_keys: dict[str, str]) -> str:
    """Whose key a call to ``provider`` uses: the user's own (their circuit) or the operator's (shared)."""
    return str(ctx.principal.user_id) if provider in user_keys else OPERATOR


def _usable(
    state: AppState, ctx: RequestContext, candidates: list[Model], user_keys: dict[str, str]
) -> list[Model]:
    """Candidates whose circuit allows a request; never empty (the last resort is tried)."""
    breaker = state.extras["breaker"]
    allowed = [m for m in candidates
               if breaker.allows(m.provider, _circuit_owner(ctx, m.provider, user_keys))]
    return allowed or candidates[:1]


async def _attempt(open_fn: Any, adapter: Any, call: UpstreamCall, timeout: float) -> Any:
    """One upstream call, bounded until its answer (or its stream) starts."""
    try:
        async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
            return await open_fn(adapter, call)
    except TimeoutError:
        raise UpstreamError(504, "timeout", f"{adapter.name} did not answer within {timeout:.0f} s",
                            provider=adapter.name) from None


async def _with_fallbacks(state, ctx, body, candidates, user_keys, open_fn) -> Any:
    """Try each candidate until one answers; retry only failures the request did not cause.

    Each attempt gets at most ``upstream_attempt_timeout_s`` and all of them together at most
    ``request_deadline_s`` from the request's arrival, so a hung provider cannot hold a caller for
    longer than its own SDK waits.
    """
    settings = state.settings
    breaker = state.extras["breaker"]
    deadline = ctx.started + settings.request_deadline_s
    last_error: UpstreamError | None = None
    usable = _usable(state, ctx, candidates, user_keys)
    for position, model in enumerate(usable):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        is_last = position == len(usable) - 1
        timeout = remaining if is_last else min(remaining, settings.upstream_attempt_timeout_s)
        ctx.model = model
        adapter = state.adapters[model.provider]
        owner = _circuit_owner(ctx, model.provider, user_keys)
        breaker.begin(model.provider, owner)
        started = time.perf_counter()
        try:
            result = await _attempt(open_fn, adapter, _call(state, ctx, body, model, user_keys), timeout)
        except asyncio.CancelledError:  # the client left: the attempt was abandoned, not failed
            latency = (time.perf_counter() - started) * 1000
            ctx.attempts.append(attempt_record(model.id, model.provider, "cancelled", round(latency, 3), 499))
            raise
        except UpstreamError as exc:
            latency = (time.perf_counter() - started) * 1000
            ctx.attempts.append(attempt_record(model.id, model.provider, exc.code, round(latency, 3),
                                               exc.status))
            metrics.UPSTREAM_SECONDS.labels(model.provider, model.id, exc.code).observe(latency / 1000)
            if not exc.retryable:
                raise
            metrics.FALLBACKS.labels(from_provider=model.provider, reason=exc.code).inc()
            breaker.record_failure(model.provider, owner)
            last_error = exc
            log.warning("attempt on %s failed with %s; falling back", model.id, exc.code,
                        extra={"request_id": ctx.request_id})
            continue
        latency = (time.perf_counter() - started) * 1000
        metrics.labelled(metrics.UPSTREAM_SECONDS, model.provider, model.id, "ok").observe(latency / 1000)
        ctx.attempts.append(attempt_record(model.id, model.provider, "ok", round(latency, 3), 200))
        breaker.record_success(model.provider, owner)
        return result
    if last_error is None:
        last_error = UpstreamError(504, "timeout", "No provider answered within the request deadline")
    raise last_error


async def _complete(state, ctx, body, candidates, user_keys) -> Response:
    completion: Completion = await _with_fallbacks(
        state, ctx, body, candidates, user_keys, lambda adapter, call: adapter.complete(call)
    )
    cost = _emit(state, ctx, usage=completion.usage, status="ok", http_status=200,
                 first_token_at=None)
    answer = completion.body
    if ctx.cache_store is not None:
        cache, key = ctx.cache_store
        cache.put_later(key, CachedAnswer(ctx.model.id, ctx.model.provider, answer.get("choices") or [],
                                          completion.usage, cost, answer.get("system_fingerprint")))
    answer["gateway_metadata"] = {
        "routed_to": ctx.model.id,
        "provider": ctx.model.provider,
        "complexity": ctx.classification.complexity,
        "cost_usd": float(cost),
        "latency_ms": round(ctx.elapsed_ms(), 3),
        "cache_hit": False,
        "request_id": ctx.request_id,
        "attempts": len(ctx.attempts),
    }
    return json_response(answer, headers=_metadata_headers(ctx, cost))


async def _stream(state, ctx, body, candidates, user_keys) -> Response:
    stream: ChatStream = await _with_fallbacks(
        state, ctx, body, candidates, user_keys, lambda adapter, call: adapter.open_stream(call)
    )

    collector = StreamCollector(ctx.cache_store[0].max_entry_bytes) if ctx.cache_store else None

    async def frames() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for frame in stream:
                if collector is not None:
                    collector.feed(frame)
                yield frame
            finished = True
        finally:
            if not finished:
                await stream.aclose()
            error = stream.error
            if error is not None:
                status, http_status, code = _status_for(error.status, error.code), error.status, error.code
            elif not finished:
                status, http_status, code = "cancelled", 499, "client_disconnected"
            else:
                status, http_status, code = "ok", 200, ""
            cost = _emit(state, ctx, usage=stream.usage, status=status, http_status=http_status,
                         error_code=code, first_token_at=stream.first_token_at)
            choices = collector.choices() if collector is not None and status == "ok" else None
            if choices and ctx.cache_store is not None:
                cache, key = ctx.cache_store
                cache.put_later(key, CachedAnswer(ctx.model.id, ctx.model.provider, choices, stream.usage,
                                                  cost, collector.system_fingerprint))

    headers = _metadata_headers(ctx, None)
    headers["cache-control"] = "no-cache"
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


def _response_cache(state: AppState) -> ResponseCache | None:
    return state.extras.get("response_cache")


async def _cache_lookup(
    state: AppState, ctx: RequestContext, request: Request, body: dict, primary: Model
) -> CachedAnswer | None:
    """A cached answer to serve, if the request may use the cache; arms ``ctx.cache_store`` on a miss."""
    cache = _response_cache(state)
    if cache is None:
        return None
    policy = cache_policy(state.settings, request.headers, body, str(ctx.principal.key_id))
    if not policy.used:
        metrics.CACHE_LOOKUPS.labels(result="bypass").inc()
        return None
    key = cache_key(str(ctx.principal.user_id), primary.id, body)
    if policy.read:
        hit = await cache.get(key)
        if hit is not None:
            return hit
    if policy.write:
        ctx.cache_store = (cache, key)
    return None


def _serve_hit(state: AppState, ctx: RequestContext, body: dict, hit: CachedAnswer) -> Response:
    """The cached answer under this request's id: no provider call, no cost."""
    ctx.model = state.catalog.get(hit.model) or ctx.model
    created = int(time.time())
    _emit(state, ctx, usage=None, status="ok", http_status=200, cache_hit=True)
    metrics.CACHE_SAVED_USD.inc(float(hit.cost_usd))
    headers = _metadata_headers(ctx, Decimal(0), cache_hit=True)
    if ctx.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        headers["cache-control"] = "no-cache"
        frames = hit.frames(ctx.request_id, created, include_usage)

        async def replay() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame

        return StreamingResponse(replay(), media_type="text/event-stream", headers=headers)
    answer = hit.completion_body(ctx.request_id, created)
    answer["gateway_metadata"] = {
        "routed_to": hit.model,
        "provider": hit.provider,
        "complexity": ctx.classification.complexity if ctx.classification else "",
        "cost_usd": 0.0,
        "latency_ms": round(ctx.elapsed_ms(), 3),
        "cache_hit": True,
        "request_id": ctx.request_id,
        "attempts": 0,
    }
    return json_response(answer, headers=headers)
