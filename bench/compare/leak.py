"""Memory drift of a gateway under sustained load: RSS after warm-up vs at the end."""

from __future__ import annotations

import time
from typing import Any

from bench.compare.procs import peak_rss_mb, rss_mb
from bench.compare.targets import Target
from bench.compare.wrk import run_wrk

WARMUP_S = 30
SLICE_S = 60


def leak_run(
    target: Target, max_requests: int = 1_000_000, max_seconds: int = 600, connections: int = 32
) -> dict[str, Any]:
    """Up to ``max_requests`` (or ``max_seconds``) of load in slices, RSS sampled after each slice."""
    target.load.stream = False
    pid = target.child.pid
    run_wrk(target.url, target.load, connections, WARMUP_S)
    after_warmup = rss_mb(pid)
    samples: list[tuple[int, float]] = []
    served = errors = 0
    started = time.monotonic()
    while served < max_requests and time.monotonic() - started < max_seconds:
        seconds = min(SLICE_S, max(5, int(max_seconds - (time.monotonic() - started))))
        result = run_wrk(target.url, target.load, connections, seconds)
        served += result.requests
        errors += result.errors
        samples.append((served, round(rss_mb(pid), 1)))
        print(f"  leak: {served} requests, RSS {samples[-1][1]} MB", flush=True)
    end = rss_mb(pid)
    return {
        "requests": served,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "rss_after_warmup_mb": round(after_warmup, 1),
        "rss_at_end_mb": round(end, 1),
        "growth_mb": round(end - after_warmup, 1),
        "peak_rss_mb": round(peak_rss_mb(pid), 1),
        "samples": samples,
    }
