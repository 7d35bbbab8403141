"""Whether a request may be read from and written to the response cache, and under which key.

Only deterministic requests are cached by default: ``temperature`` explicitly 0. A client can opt in
for any request with ``x-switchyard-cache: on``, or opt out with ``x-switchyard-cache: off`` or
``Cache-Control: no-store`` (neither read nor written). ``Cache-Control: no-cache`` skips the read but
stores the fresh answer (a refresh). The operator can switch the cache off for chosen gateway keys
(``CACHE_DISABLED_KEY_IDS``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.settings import Settings

CACHE_HEADER = "x-switchyard-cache"
KEY_PREFIX = "cache:v1:"

# Fields that never change the answer: transport options, bookkeeping, the requested model name
# (the key uses the model the router chose instead).
_IGNORED_FIELDS = frozenset(
    {"model", "stream", "stream_options", "user", "metadata", "store", "service_tier"}
)


@dataclass(frozen=True)
class CachePolicy:
    read: bool
    write: bool

    @property
    def used(self) -> bool:
        return self.read or self.write


BYPASS = CachePolicy(read=False, write=False)


def cache_policy(
    settings: Settings, headers: Mapping[str, str], body: dict[str, Any], key_id: str
) -> CachePolicy:
    if not settings.cache_enabled or key_id in settings.cache_disabled_key_ids:
        return BYPASS
    switch = headers.get(CACHE_HEADER, "").strip().lower()
    directives = {d.strip().lower() for d in headers.get("cache-control", "").split(",")}
    if switch == "off" or "no-store" in directives:
        return BYPASS
    temperature = body.get("temperature")
    deterministic = temperature == 0 and not isinstance(temperature, bool)
    if switch != "on" and not deterministic:
        return BYPASS
    return CachePolicy(read="no-cache" not in directives, write=True)


def cache_key(user_id: str, routed_model: str, body: dict[str, Any]) -> str:
    """Same user, same routed model and the same request (keys sorted) give the same key."""
    normalised = {k: v for k, v in body.items() if k not in _IGNORED_FIELDS and v is not None}
    digest = hashlib.sha256()
    digest.update(f"{user_id}\x00{routed_model}\x00".encode())
    digest.update(orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    return KEY_PREFIX + digest.hexdigest()
