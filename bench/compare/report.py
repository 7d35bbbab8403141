"""Summaries of repeated runs, ratios between gateways, and the printed table."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.compare.wrk import WrkResult


@dataclass
class Measurement:
    """Medians over the repetitions of one scenario on one target (errors are summed)."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_ms_per_request: float | None  # None when no request completed
    errors: int
    non_2xx: int
    requests: int
    repetitions: int
    peak_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def summarise(runs: list[tuple[WrkResult, float]], peak_rss_mb: float) -> Measurement:
    """``runs``: (wrk result, CPU seconds the target used during it)."""
    cpu_ms = [cpu * 1000 / result.requests for result, cpu in runs if result.requests]
    results = [result for result, _ in runs]
    return Measurement(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_ms_per_request=statistics.median(cpu_ms) if cpu_ms else None,
        errors=sum(r.errors for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        requests=sum(r.requests for r in results),
        repetitions=len(results),
        peak_rss_mb=peak_rss_mb,
    )


def ratios(scenario: dict[str, dict[str, Any]], ours: str = "switchyard") -> dict[str, dict[str, float]]:
    """Switchyard / other for each other gateway in the scenario (rps > 1 is better; latency, CPU < 1)."""
    mine = scenario.get(ours)
    if not mine:
        return {}
    out: dict[str, dict[str, float]] = {}
    for name, theirs in scenario.items():
        if name in (ours, "direct") or not theirs:
            continue
        pair = {}
        for metric in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "peak_rss_mb"):
            if theirs.get(metric) and mine.get(metric) is not None:
                pair[metric] = round(mine[metric] / theirs[metric], 3)
        out[f"{ours}/{name}"] = pair
    return out


def added_latency(scenario: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each gateway's p50/p90/p99 minus the direct-to-mock figure."""
    direct = scenario.get("direct")
    if not direct:
        return {}
    return {
        name: {f"added_{p}": round(m[p] - direct[p], 3) for p in ("p50_ms", "p90_ms", "p99_ms")}
        for name, m in scenario.items()
        if name != "direct" and m
    }


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    header = (
        f"{'scenario':<18}{'target':<12}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>11}{'RSS MB':>8}{'errors':>8}"
    )
    lines = [header, "-" * len(header)]
    for scenario, targets in results.items():
        for name, m in targets.items():
            if not m:
                lines.append(f"{scenario:<18}{name:<12}{'(not run)':>9}")
                continue
            lines.append(
                f"{scenario:<18}{name:<12}{m['rps']:>9.0f}{m['p50_ms']:>9.2f}{m['p90_ms']:>9.2f}"
                f"{m['p99_ms']:>9.2f}{_num(m['cpu_ms_per_request']):>11}{m['peak_rss_mb']:>8.0f}{m['errors']:>8d}"
            )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
