"""The Starlette application and its lifespan: every long-lived service is created and closed here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway import analytics, health, models_api, openapi
from gateway.auth.routes import routes as auth_routes
from gateway.chat.breaker import CircuitBreaker
from gateway.chat.endpoint import is_chat_request, serve_chat
from gateway.chat.handler import chat_completions
from gateway.clickhouse import ClickHouse
from gateway.db import create_pool
from gateway.errors import EXCEPTION_HANDLERS, InternalErrorMiddleware
from gateway.events.producer import UsageProducer
from gateway.events.topics import ensure_topics
from gateway.keys.gateway_auth import start_key_cache, stop_key_cache
from gateway.keys.routes import routes as key_routes
from gateway.metrics_route import metrics_endpoint
from gateway.providers import close_adapters, create_adapters
from gateway.ratelimit import ApiRateLimitMiddleware
from gateway.redis_client import start_redis_services, stop_redis_services
from gateway.request_id import RequestIdMiddleware
from gateway.routing.catalog import load_catalog
from gateway.routing.classifier import warm_up
from gateway.settings import Settings
from gateway.state import AppState

log = logging.getLogger("switchyard.app")


class GatewayApp(Starlette):
    """Starlette, with the chat endpoint served ahead of the router and middleware (the hot path)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_chat_request(scope):
            await serve_chat(self, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    settings.check_production_secrets()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await start_services(settings)
        app.state.gw = state
        # Everything built so far lives as long as the process: keep it out of every GC pass.
        gc.freeze()
        try:
            yield
        finally:
            await stop_services(state)

    routes = [
        Route("/health", health.health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *openapi.routes,
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models_api.openai_models, methods=["GET"]),
        *auth_routes,
        *key_routes,
        *models_api.routes,
        *analytics.routes,
    ]
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(InternalErrorMiddleware),
        Middleware(ApiRateLimitMiddleware),
    ]
    return GatewayApp(
        routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )


async def start_services(settings: Settings) -> AppState:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (the local stack sets it; see the README)")
    catalog = load_catalog(settings.catalog_path or None)
    await asyncio.to_thread(warm_up)
    db = await create_pool(settings.database_url)
    clickhouse = ClickHouse(settings.clickhouse_url, settings.clickhouse_database)
    if settings.run_consumer_in_process:
        # The process that loads usage events owns the schema; a separate consumer (or `setup`)
        # applies it otherwise, and this process opens ClickHouse lazily for analytics only.
        await clickhouse.apply_schema()
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        {settings.usage_topic: settings.usage_topic_partitions, settings.usage_dlq_topic: 1},
    )
    producer = UsageProducer(
        settings.kafka_bootstrap_servers,
        settings.usage_topic,
        settings.spool_dir,
        buffer_size=settings.producer_buffer_size,
    )
    await producer.start()
    adapters = create_adapters(
        settings.providers,
        connect_timeout=settings.upstream_connect_timeout_s,
        idle_timeout=settings.upstream_idle_timeout_s,
    )
    state = AppState(
        settings=settings, db=db, clickhouse=clickhouse, producer=producer,
        adapters=adapters, catalog=catalog,
    )
    state.extras["breaker"] = CircuitBreaker()
    await start_redis_services(state)
    await start_key_cache(state)
    if settings.run_consumer_in_process:
        from consumers.loader import UsageLoader

        loader = UsageLoader(
            clickhouse, settings.kafka_bootstrap_servers, settings.usage_topic, settings.usage_dlq_topic
        )
        state.extras["loader"] = loader
        state.extras["loader_task"] = asyncio.create_task(loader.run(), name="usage-loader")
    log.info("gateway ready")
    return state


async def stop_services(state: AppState) -> None:
    await stop_key_cache(state)
    limiter = state.extras.get("rate_limiter")
    if limiter is not None:
        await limiter.aclose()
    await stop_redis_services(state)
    await state.producer.stop()
    loader = state.extras.get("loader")
    if loader is not None:
        # Let the loader drain what the producer just flushed, then stop it.
        await asyncio.sleep(0)
        loader.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(state.extras["loader_task"], 30)
    await close_adapters(state.adapters)
    await state.db.close()
    await state.clickhouse.close()
