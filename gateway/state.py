"""The long-lived services one gateway process holds, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gateway.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from gateway.clickhouse import ClickHouse
    from gateway.events.producer import UsageProducer


@dataclass
class AppState:
    settings: Settings
    db: asyncpg.Pool
    clickhouse: ClickHouse
    producer: UsageProducer
    adapters: dict[str, Any] = field(default_factory=dict)  # provider name -> ProviderAdapter
    catalog: Any = None  # gateway.routing.catalog.Catalog
    extras: dict[str, Any] = field(default_factory=dict)  # per-feature caches (key cache, limiter, ...)


def get_state(request: Request) -> AppState:
    return request.app.state.gw
