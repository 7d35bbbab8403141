"""Shared simulator plumbing: configuration, per-request directives, fault arming, stats and the
control endpoints every provider app mounts (`/health`, `/_sim/...`)."""

from __future__ import annotations

import os
import random
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_VALID_KEYS = frozenset({"sim-openai-key", "sim-anthropic-key", "sim-google-key"})
VALID_KEY_PREFIX = "sim-valid-"
FAULTS = frozenset(
    {
        "429",
        "500",
        "503",
        "529",
        "401",
        "400",
        "timeout",
        "stall",
        "disconnect",
        "error_event",
        "safety",
        "blocked",
    }
)
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
MARKER_RE = re.compile(r"\[\[sim:([a-z_]+)(?:=([^\]]*))?\]\]")
RECENT_REQUESTS = 100


@dataclass(frozen=True)
class SimulatorConfig:
    """Global behaviour of one simulator app; per-request markers and headers override it.

    `fault` hits each request with probability `fault_rate` (1.0 = every request).
    `valid_keys=None` means the default set; keys starting with `valid_key_prefix` are always valid.
    """

    valid_keys: frozenset[str] | None = None
    valid_key_prefix: str = VALID_KEY_PREFIX
    ttft_ms: int = 0
    tps: float | None = None
    fault: str | None = None
    fault_rate: float = 1.0
    retry_after: int = 7
    seed: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SimulatorConfig:
        """Reads SIM_VALID_KEYS, SIM_TTFT_MS, SIM_TPS, SIM_FAULT, SIM_FAULT_RATE, SIM_RETRY_AFTER."""
        env = os.environ if env is None else env
        keys = env.get("SIM_VALID_KEYS")
        return cls(
            valid_keys=frozenset(k.strip() for k in keys.split(",") if k.strip()) if keys else None,
            ttft_ms=int(env.get("SIM_TTFT_MS", "0") or 0),
            tps=float(env["SIM_TPS"]) if env.get("SIM_TPS") else None,
            fault=env.get("SIM_FAULT") or None,
            fault_rate=float(env.get("SIM_FAULT_RATE", "1") or 1),
            retry_after=int(env.get("SIM_RETRY_AFTER", "7") or 7),
        )

    def key_is_valid(self, key: str | None) -> bool:
        if not key:
            return False
        keys = DEFAULT_VALID_KEYS if self.valid_keys is None else self.valid_keys
        return key in keys or (bool(self.valid_key_prefix) and key.startswith(self.valid_key_prefix))


@dataclass(frozen=True)
class Directives:
    """What one request asks of the simulator, after markers, headers, armed and global faults."""

    fault: str | None = None
    ttft_ms: int = 0
    tps: float | None = None
    tokens: int | None = None
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int | None = None
    retry_after: int = 7
    parallel_tools: bool = False
    force_tools: bool = False
    unicode: bool = False
    answer: str | None = None

    @property
    def first_token_delay(self) -> float:
        return max(self.ttft_ms, 0) / 1000

    def token_delay(self, tokens: int) -> float:
        """Seconds that `tokens` tokens take at the configured rate (0 when unlimited)."""
        return tokens / self.tps if self.tps and self.tps > 0 else 0.0


def parse_markers(text: str) -> dict[str, str]:
    """`[[sim:key=value]]` markers in `text` (a bare `[[sim:key]]` maps to "1"); last one wins."""
    return {m.group(1): (m.group(2) if m.group(2) is not None else "1") for m in MARKER_RE.finditer(text)}


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass
class SimState:
    """Mutable state of one app: armed faults, counters and the recent request log."""

    config: SimulatorConfig
    provider: str
    armed_fault: str | None = None
    armed_remaining: int | None = 0
    requests: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    by_endpoint: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    streams: int = 0
    completed: int = 0
    cancelled: int = 0
    last_request: dict[str, Any] | None = None
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_REQUESTS))
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.config.seed)

    # -- recording --------------------------------------------------------------------------
    def record(self, request: Request, body: Any, endpoint: str, model: str | None) -> None:
        """Counts a provider API request and keeps what was received, credentials left out."""
        self.requests += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
        if model:
            self.by_model[model] = self.by_model.get(model, 0) + 1
        auth_header = next((h for h in request.headers if h.lower() in AUTH_HEADERS), None)
        query = {k: ("<redacted>" if k == "key" else v) for k, v in request.query_params.items()}
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": query,
            "endpoint": endpoint,
            "model": model,
            "headers": {k: v for k, v in request.headers.items() if k.lower() not in AUTH_HEADERS},
            "auth_header": auth_header,
            "key_in_query": "key" in request.query_params,
            "body": body,
            "received_at": time.time(),
        }
        self.last_request = entry
        self.recent.append(entry)

    def record_fault(self, fault: str) -> None:
        self.faults[fault] = self.faults.get(fault, 0) + 1

    def stream_started(self) -> None:
        self.streams += 1

    def finished(self, cancelled: bool) -> None:
        if cancelled:
            self.cancelled += 1
        else:
            self.completed += 1

    def stats(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "requests": self.requests,
            "by_model": dict(self.by_model),
            "by_endpoint": dict(self.by_endpoint),
            "faults": dict(self.faults),
            "streams": self.streams,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "armed_fault": self.armed_fault if self.armed_remaining != 0 else None,
            "armed_remaining": self.armed_remaining if self.armed_fault else 0,
            "last_request": self.last_request,
        }

    def reset_stats(self) -> None:
        self.requests = self.streams = self.completed = self.cancelled = 0
        self.by_model.clear()
        self.by_endpoint.clear()
        self.faults.clear()
        self.last_request = None
        self.recent.clear()

    # -- directives ---------------------------------------------------------------------------
    def arm(self, fault: str, count: int | None) -> None:
        self.armed_fault, self.armed_remaining = fault, count

    def disarm(self) -> None:
        self.armed_fault, self.armed_remaining = None, 0

    def _take_armed(self) -> str | None:
        if not self.armed_fault or self.armed_remaining == 0:
            return None
        if self.armed_remaining is not None:
            self.armed_remaining -= 1
        return self.armed_fault

    def _global_fault(self) -> str | None:
        fault = self.config.fault
        if fault and (self.config.fault_rate >= 1 or self.rng.random() < self.config.fault_rate):
            return fault
        return None

    def directives(self, marker_text: str, headers: Mapping[str, str]) -> Directives:
        """Per-request markers win over `x-sim-*` headers, then armed faults, then global config."""
        markers = parse_markers(marker_text)
        fault = markers.get("fault") or headers.get("x-sim-fault") or self._take_armed()
        fault = fault or self._global_fault()
        config = self.config
        ttft = _int(markers.get("ttft_ms")) or _int(headers.get("x-sim-ttft-ms"))
        tps = _float(markers.get("tps")) or _float(headers.get("x-sim-tps"))
        directives = Directives(
            fault=fault if fault in FAULTS else None,
            ttft_ms=ttft if ttft is not None else config.ttft_ms,
            tps=tps if tps is not None else config.tps,
            tokens=_int(markers.get("tokens")),
            cache_read=_int(markers.get("usage_cache_read")) or 0,
            cache_write=_int(markers.get("usage_cache_write")) or 0,
            reasoning=_int(markers.get("reasoning")),
            retry_after=_int(markers.get("retry_after")) or config.retry_after,
            parallel_tools="parallel_tools" in markers,
            force_tools="tools" in markers or "parallel_tools" in markers,
            unicode="unicode" in markers,
            answer=markers.get("answer"),
        )
        if directives.fault:
            self.record_fault(directives.fault)
        return directives


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type="application/json"
    )


def parse_json_body(raw: bytes) -> Any:
    """The request body as JSON, or raises ValueError with a short reason."""
    if not raw:
        raise ValueError("empty body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from exc


def control_routes(state: SimState) -> list[Route]:
    """`/health` and the `/_sim/*` test-control endpoints (no authentication)."""

    async def health(_: Request) -> Response:
        return json_response({"status": "ok"})

    async def get_stats(_: Request) -> Response:
        return json_response(state.stats())

    async def reset_stats(_: Request) -> Response:
        state.reset_stats()
        return json_response(state.stats())

    async def get_requests(_: Request) -> Response:
        return json_response({"requests": list(state.recent)})

    async def arm_fault(request: Request) -> Response:
        try:
            body = parse_json_body(await request.body())
            fault = str(body["fault"])
        except (ValueError, KeyError, TypeError):
            return json_response({"error": 'expected {"fault": "<name>", "count": N}'}, 400)
        if fault not in FAULTS:
            return json_response({"error": f"unknown fault {fault!r}", "known": sorted(FAULTS)}, 400)
        count = body.get("count", 1)
        state.arm(fault, None if count is None else int(count))
        return json_response({"armed_fault": fault, "armed_remaining": state.armed_remaining})

    async def clear_faults(_: Request) -> Response:
        state.disarm()
        return json_response({"armed_fault": None, "armed_remaining": 0})

    async def get_faults(_: Request) -> Response:
        return json_response({"armed_fault": state.armed_fault, "armed_remaining": state.armed_remaining})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/_sim/stats", get_stats, methods=["GET"]),
        Route("/_sim/stats", reset_stats, methods=["DELETE"]),
        Route("/_sim/requests", get_requests, methods=["GET"]),
        Route("/_sim/faults", get_faults, methods=["GET"]),
        Route("/_sim/faults", arm_fault, methods=["POST"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
    ]
