"""Exact-match response cache in Redis: same user, routed model and request give the same answer."""

from gateway.cache.entry import CachedAnswer, StreamCollector
from gateway.cache.policy import BYPASS, CachePolicy, cache_key, cache_policy
from gateway.cache.store import ResponseCache

__all__ = [
    "BYPASS",
    "CachePolicy",
    "CachedAnswer",
    "ResponseCache",
    "StreamCollector",
    "cache_key",
    "cache_policy",
]
