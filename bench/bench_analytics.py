"""Analytics at scale: query latency per endpoint for a heavy user, and export throughput and memory.

Generates N realistic usage events (default 10,000,000: many users, one heavy user with 20% of them,
several models, 90 days, errors and cache hits) straight into an embedded ClickHouse with
``INSERT ... SELECT FROM numbers()`` (the materialized view fills the hourly rollup as in production),
then times the exact query functions the routes call.

Usage: python -m bench.bench_analytics [--events N] [--data-dir DIR] [--iterations K] [--regenerate]
Writes bench/results/analytics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway.analytics import reports  # noqa: E402
from gateway.analytics.export import ENCODERS  # noqa: E402
from gateway.analytics.export_query import CHUNK_ROWS, export_chunks  # noqa: E402
from gateway.analytics.periods import sql_ms  # noqa: E402
from gateway.analytics.request_log import requests_page  # noqa: E402
from gateway.clickhouse import ClickHouse  # noqa: E402

HEAVY_USER = UUID("0b5e55ed-0000-4000-8000-000000000001")
DATABASE = "switchyard"
BATCH = 1_000_000
TARGETS_MS = {"overview": 100, "cost-breakdown": 100, "model-distribution": 100, "requests": 50}

# n < heavy_count belongs to the heavy user; the rest spread over `users` others. Timestamps are spread
# uniformly over the 90 days before `now`; model, status, cache hits and tokens follow fixed hash draws.
GENERATE_SQL = """
INSERT INTO {db:Identifier}.usage_events
    (event_id, schema_version, request_id, user_id, __TS__, first_token_at, finished_at,
     requested_model, routed_model, provider, complexity, stream, status, error_code, http_status,
     input_tokens, cached_input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, cache_hit,
     client_ip_hash, user_agent, kafka_partition, kafka_offset)
SELECT
    generateUUIDv4(number) AS event_id, 1, concat('req_', hex(cityHash64(number, 7))),
    if(number < {heavy_count:UInt64}, {heavy:UUID},
       toUUID(concat('00000000-0000-4000-8000-', leftPad(toString(number % {users:UInt64}), 12, '0')))),
    {now:DateTime64(3, 'UTC')} - toIntervalMillisecond(cityHash64(number, 1) % (90 * 86400000)) AS created,
    created + toIntervalMillisecond(150 + m * 40), created + toIntervalMillisecond(latency),
    if(cityHash64(number, 2) % 3 = 0, 'auto', model), model, provider,
    ['simple', 'moderate', 'complex'][cityHash64(number, 3) % 3 + 1], cityHash64(number, 4) % 2 = 0,
    if(failed, 'error', 'ok'), if(failed, 'upstream_error', ''), if(failed, 502, 200),
    input, intDiv(input, 4), output,
    if(failed, toDecimal64(0, 9), toDecimal64(input * in_price + output * out_price, 9) / 1000000),
    latency, 150 + m * 40, cityHash64(number, 5) % 10 = 0,
    hex(cityHash64(number % 5000)), 'OpenAI/Python 1.99.0', number % 12, number
FROM (
    SELECT number,
           cityHash64(number, 6) % 6 AS m,
           ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku', 'claude-sonnet-4', 'gemini-2.0-flash',
            'gemini-2.5-pro'][m + 1] AS model,
           ['openai', 'openai', 'anthropic', 'anthropic', 'google', 'google'][m + 1] AS provider,
           [0.15, 2.5, 0.8, 3.0, 0.1, 1.25][m + 1] AS in_price,
           [0.6, 10.0, 4.0, 15.0, 0.4, 10.0][m + 1] AS out_price,
           cityHash64(number, 8) % 100 < 3 AS failed,
           toUInt32(50 + cityHash64(number, 9) % 4000) AS input,
           toUInt32(if(failed, 0, 10 + cityHash64(number, 10) % 1500)) AS output,
           toFloat32(200 + cityHash64(number, 11) % 5000) AS latency
    FROM numbers({offset:UInt64}, {count:UInt64})
)
"""


def timestamp_column(ch: ClickHouse) -> str:
    """The stored receive-time column (``created_at`` may be an ALIAS of ``received_at``)."""
    rows = ch.query_sync(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'usage_events' "
        "AND name IN ('received_at', 'created_at') AND default_kind != 'ALIAS'", {"db": DATABASE},
    )
    return rows[0]["name"]


def generate(ch: ClickHouse, events: int, heavy: int, users: int, now: datetime) -> float:
    started = time.perf_counter()
    sql = GENERATE_SQL.replace("__TS__", timestamp_column(ch))  # one of two fixed column names
    for offset in range(0, events, BATCH):
        ch.command_sync(sql, {
            "db": DATABASE, "heavy": str(HEAVY_USER), "heavy_count": heavy, "users": users,
            "now": now.strftime("%Y-%m-%d %H:%M:%S.000"),
            "offset": offset, "count": min(BATCH, events - offset),
        })
        print(f"  generated {min(offset + BATCH, events):,} / {events:,}", flush=True)
    return time.perf_counter() - started


def settle(ch: ClickHouse) -> None:
    """Merge the parts the bulk load left behind, as background merges do in steady state.

    A bulk ``INSERT ... SELECT`` hands the view blocks that mix every user and hour, so the fresh rollup
    holds nearly one row per event until merged; the loader's time-ordered batches do not have that
    problem, and merges compact both tables within minutes.
    """
    started = time.perf_counter()
    for table in ("usage_events", "usage_hourly"):
        sql = "OPTIMIZE TABLE {db:Identifier}.{table:Identifier} FINAL"
        ch.command_sync(sql, {"db": DATABASE, "table": table})
    print(f"  merged parts in {time.perf_counter() - started:.1f} s", flush=True)


async def timed(fn: Callable[[], Awaitable[Any]], iterations: int) -> dict[str, float]:
    """Wall and CPU milliseconds per call (CPU of the whole process: the embedded engine runs in it, and
    it is what a shared machine cannot steal)."""
    await fn()  # warm-up: first-touch of marks and caches
    wall, cpu = [], []
    for _ in range(iterations):
        started, cpu_started = time.perf_counter(), time.process_time()
        await fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    wall.sort()
    cpu.sort()
    p95 = min(iterations - 1, int(0.95 * iterations))
    return {
        "p50_ms": round(statistics.median(wall), 2), "p95_ms": round(wall[p95], 2),
        "max_ms": round(wall[-1], 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2), "cpu_p95_ms": round(cpu[p95], 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples the process RSS every 20 ms in a thread while an export runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def count_records(fmt: str, data: bytes) -> int:
    """Records in one chunk of export_chunks (the bench's user agents hold no line breaks or quotes)."""
    return data.count(b"\r\n") if fmt == "csv" else data.count(b',{"id":')


async def export_run(
    ch: ClickHouse, fmt: str, start: datetime, end: datetime, expected: int, chunk_rows: int
) -> dict[str, Any]:
    rows = 0
    size = 0

    milestones: list[float] = []  # RSS after each further 10% of the rows: flat means no growth

    async def counted() -> Any:
        nonlocal rows
        async for chunk in export_chunks(ch, HEAVY_USER, start, end, None, fmt, chunk_rows):
            rows += count_records(fmt, chunk)
            if rows >= (len(milestones) + 1) * expected / 10:
                milestones.append(round(rss_mb(), 1))
            yield chunk

    before = rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    with RssSampler() as sampler:
        async for piece in ENCODERS[fmt](counted()):
            size += len(piece)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started  # gateway + embedded engine, all threads
    samples = sampler.samples or [before]
    return {
        "format": fmt, "chunk_rows": chunk_rows, "rows": rows, "bytes": size, "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds), "cpu_seconds": round(cpu_seconds, 2),
        "rows_per_cpu_s": round(rows / cpu_seconds), "load_average_1m": round(os.getloadavg()[0], 2),
        "rss_before_mb": round(before, 1), "rss_peak_mb": round(max(samples), 1),
        "rss_after_mb": round(rss_mb(), 1), "rss_growth_mb": round(max(samples) - before, 1),
        "rss_every_10_percent_mb": milestones,
    }


async def measure(ch: ClickHouse, now: datetime, iterations: int) -> dict[str, Any]:
    user = HEAVY_USER
    kolkata = ZoneInfo("Asia/Kolkata")
    cases: dict[str, tuple[str, Callable[[], Awaitable[Any]]]] = {
        "overview 24h": ("overview", lambda: reports.overview(ch, user, timedelta(hours=24), now)),
        "overview 7d": ("overview", lambda: reports.overview(ch, user, timedelta(days=7), now)),
        "overview 30d": ("overview", lambda: reports.overview(ch, user, timedelta(days=30), now)),
        "cost-breakdown 7d UTC": ("cost-breakdown",
                                  lambda: reports.cost_breakdown(ch, user, 7, UTC_ZONE, now)),
        "cost-breakdown 30d UTC": ("cost-breakdown",
                                   lambda: reports.cost_breakdown(ch, user, 30, UTC_ZONE, now)),
        "cost-breakdown 30d Kolkata": ("cost-breakdown",
                                       lambda: reports.cost_breakdown(ch, user, 30, kolkata, now)),
        "model-distribution 24h": ("model-distribution",
                                   lambda: reports.model_distribution(ch, user, timedelta(hours=24), now)),
        "model-distribution 30d": ("model-distribution",
                                   lambda: reports.model_distribution(ch, user, timedelta(days=30), now)),
        "requests page 1": ("requests", lambda: requests_page(ch, user, 1, 20, None)),
        "requests page 1000": ("requests", lambda: requests_page(ch, user, 1000, 20, None)),
        "requests page 1 model=gpt-4o": ("requests", lambda: requests_page(ch, user, 1, 20, "gpt-4o")),
        "requests page 1000 model=gpt-4o": ("requests", lambda: requests_page(ch, user, 1000, 20, "gpt-4o")),
        "requests page 1 limit=100": ("requests", lambda: requests_page(ch, user, 1, 100, None)),
    }
    results: dict[str, Any] = {}
    for name, (endpoint, fn) in cases.items():
        stats = await timed(fn, iterations)
        stats["target_ms"] = TARGETS_MS[endpoint]
        stats["meets_target"] = stats["p95_ms"] <= TARGETS_MS[endpoint]
        results[name] = stats
    return results


UTC_ZONE = ZoneInfo("UTC")


def print_table(latencies: dict[str, Any], exports: list[dict[str, Any]]) -> None:
    print(f"\n{'query (heavy user)':<34}{'p50 ms':>9}{'p95 ms':>9}{'cpu p50':>9}{'cpu p95':>9}{'target':>8}"
          f"  ok{'load':>7}")
    for name, s in latencies.items():
        ok = "yes" if s["meets_target"] else "NO "
        print(f"{name:<34}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['cpu_p50_ms']:>9.2f}{s['cpu_p95_ms']:>9.2f}"
              f"{s['target_ms']:>8}  {ok}{s['load_average_1m']:>6.2f}")
    print(f"\n{'export':<8}{'rows':>10}{'rows/s':>11}{'rows/cpu-s':>12}{'MB':>8}{'RSS before':>12}"
          f"{'RSS peak':>10}{'growth':>8}{'load':>7}")
    for e in exports:
        print(f"{e['format']:<8}{e['rows']:>10,}{e['rows_per_s']:>11,}{e['rows_per_cpu_s']:>12,}"
              f"{e['bytes'] / 1e6:>8.1f}"
              f"{e['rss_before_mb']:>12.1f}{e['rss_peak_mb']:>10.1f}{e['rss_growth_mb']:>8.1f}"
              f"{e['load_average_1m']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--data-dir", default="/tmp/switchyard-bench-analytics")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--export-days", type=int, default=92)
    parser.add_argument("--regenerate", action="store_true", help="drop the data directory first")
    parser.add_argument("--chunk", type=int, default=CHUNK_ROWS, help="export rows per chunk")
    parser.add_argument("--part", choices=("all", "latencies", "export"), default="all")
    parser.add_argument("--settle", action="store_true", help="merge parts of reused data first")
    parser.add_argument("--json", default=str(REPO_ROOT / "bench" / "results" / "analytics.json"))
    args = parser.parse_args()

    data_dir = Path(args.data_dir)
    if args.regenerate and data_dir.exists():
        shutil.rmtree(data_dir)
    ch = ClickHouse(f"chdb://{data_dir}", DATABASE)
    ch.apply_schema_sync()
    heavy = args.events // 5
    users = max(1, min(5000, args.events // 2000))
    count_sql = "SELECT count() AS n FROM {db:Identifier}.usage_events"
    existing = int(ch.query_sync(count_sql, {"db": DATABASE})[0]["n"])
    meta_path = data_dir / "bench-meta.json"
    if existing == args.events and meta_path.exists():
        now = datetime.fromisoformat(json.loads(meta_path.read_text())["now"])
        print(f"reusing {existing:,} events in {data_dir}")
        if args.settle:
            settle(ch)
        generation_s = None
    else:
        if existing:
            raise SystemExit(f"{data_dir} holds {existing:,} events, not {args.events:,}; use --regenerate")
        now = datetime.now(UTC).replace(microsecond=0)
        print(f"generating {args.events:,} events ({heavy:,} for the heavy user, {users:,} other users)")
        generation_s = round(generate(ch, args.events, heavy, users, now), 1)
        settle(ch)
        meta_path.write_text(json.dumps({"now": now.isoformat()}))
    # Reports are measured at a `now` just after the newest event (with seconds and milliseconds, so the
    # edge hours are partial as they are in production).
    report_now = now + timedelta(minutes=17, seconds=23, milliseconds=456)

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        latencies = await measure(ch, report_now, args.iterations) if args.part != "export" else {}
        start = report_now - timedelta(days=args.export_days)
        expected = int((await ch.query(
            "SELECT count() AS n FROM {db:Identifier}.usage_events WHERE user_id = {u:UUID} "
            "AND created_at >= {s:DateTime64(3, 'UTC')} AND created_at < {e:DateTime64(3, 'UTC')}",
            {"db": DATABASE, "u": str(HEAVY_USER), "s": sql_ms(start), "e": sql_ms(report_now)},
        ))[0]["n"])
        formats = ("csv", "json") if args.part != "latencies" else ()
        exports = [await export_run(ch, fmt, start, report_now, expected, args.chunk) for fmt in formats]
        return latencies, exports

    latencies, exports = asyncio.run(run())
    print_table(latencies, exports)
    result = {
        "events": args.events, "heavy_user_events": heavy, "other_users": users,
        "generation_seconds": generation_s, "iterations": args.iterations,
        "peak_rss_mb_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "latencies": latencies, "exports": exports,
        "export_target_rows_per_s": 200_000,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
