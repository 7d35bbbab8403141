"""Provider adapters: OpenAI chat completions in, each provider's own API upstream."""

from __future__ import annotations

import httpx

from gateway.providers.anthropic_adapter import AnthropicAdapter
from gateway.providers.base import (
    ChatStream,
    Completion,
    ProviderAdapter,
    UpstreamCall,
    UpstreamError,
    Usage,
)
from gateway.providers.gemini_adapter import GeminiAdapter
from gateway.providers.http_adapter import HttpAdapter
from gateway.providers.openai_adapter import OpenAIAdapter
from gateway.settings import ProviderConfig

ADAPTER_CLASSES: dict[str, type[HttpAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "google": GeminiAdapter,
}

__all__ = [
    "ADAPTER_CLASSES",
    "ChatStream",
    "Completion",
    "ProviderAdapter",
    "UpstreamCall",
    "UpstreamError",
    "Usage",
    "close_adapters",
    "create_adapters",
]


def create_adapters(
    configs: dict[str, ProviderConfig],
    *,
    connect_timeout: float,
    idle_timeout: float,
    response_timeout: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, ProviderAdapter]:
    """One adapter (with its own pooled client) per configured provider we know how to speak to.

    ``response_timeout`` bounds the wait for a non-streaming answer (default: max(idle, 300 s));
    ``transport`` replaces the network (tests, provider stand-ins)."""
    adapters: dict[str, ProviderAdapter] = {}
    for name, config in configs.items():
        cls = ADAPTER_CLASSES.get(name)
        if cls is None:
            continue
        adapters[name] = cls(
            config,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
            response_timeout=response_timeout,
            transport=transport,
        )
    return adapters


async def close_adapters(adapters: dict[str, ProviderAdapter]) -> None:
    for adapter in adapters.values():
        await adapter.aclose()
