"""Usage pipeline benchmarks on a real local Kafka (started here, on free ports) and an embedded ClickHouse.

1. Event serialisation: cost and size of ``UsageEvent.to_bytes()`` (and of the naive alternative).
2. Producer cost per request in event-loop time: CPU time of the loop thread for ``emit()`` plus the
   background batching, lz4 compression and socket writes, divided by events (target <= 30 us).
3. Consumer throughput: pre-load N events (default 500,000) into a topic, then time one loader
   draining it into ClickHouse (target >= 50,000 events/s per process); ``--repeat`` drains it again
   with fresh consumer groups and reports the median. Also the process CPU time per event (all
   threads, ClickHouse's included): less noisy than wall time on a shared machine.
4. End-to-end freshness: emit at 1,000 events/s for 20 s with the loader running; time from emit()
   to the row being visible to a query (target p99 <= 2 s), with the inserts per second this costs.

Every stage records the load average next to its figures.

Usage: python -m bench.bench_pipeline [--events N] [--rate R] [--seconds S] [--repeat K]
       [--stages serialisation,producer,consumer,freshness] [--batch-rows N] [--batch-seconds S]
       [--linger-seconds S]
Writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from consumers.loader import UsageLoader  # noqa: E402
from gateway.clickhouse import ClickHouse  # noqa: E402
from gateway.events.producer import UsageProducer  # noqa: E402
from gateway.events.topics import ensure_topics  # noqa: E402
from infra.stack import LocalStack, StackPorts  # noqa: E402
from schemas import Attempt, UsageEvent  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "pipeline.json"
TARGETS = {"producer_us_per_event": 30.0, "consumer_events_per_s": 50_000.0, "freshness_p99_s": 2.0}
PARTITIONS = 6


def make_events(n: int, prefix: str, users: int = 5_000) -> list[UsageEvent]:
    people = [uuid.uuid4() for _ in range(users)]
    keys = [uuid.uuid4() for _ in range(users)]
    now = datetime.now(UTC)
    models = [("gpt-4o-mini", "openai"), ("claude-3-5-haiku", "anthropic"), ("gemini-2.0-flash", "google")]
    events = []
    for i in range(n):
        model, provider = models[i % 3]
        at = now - timedelta(milliseconds=900 + i % 500)
        events.append(UsageEvent(
            request_id=f"{prefix}-{i}", user_id=people[i % users], gateway_key_id=keys[i % users],
            received_at=at, first_token_at=at + timedelta(milliseconds=150), finished_at=now,
            requested_model="auto", routed_model=model, provider=provider, complexity="simple",
            stream=i % 2 == 0, input_tokens=200 + i % 1000, cached_input_tokens=i % 64,
            output_tokens=50 + i % 400, cost_usd=Decimal(1 + i % 99_999) / 10**9, latency_ms=900.0 + i % 500,
            ttft_ms=150.0, cache_hit=i % 10 == 0,
            attempts=[Attempt(model=model, provider=provider, outcome="ok", latency_ms=880.0,
                              http_status=200)],
            client_ip_hash="5e884898da280471", user_agent="OpenAI/Python 1.99.0",
        ))
    return events


def bench_serialisation(events: list[UsageEvent]) -> dict[str, float]:
    sample = events[:20_000]
    started = time.perf_counter()
    wire = [e.to_bytes() for e in sample]
    to_bytes_us = (time.perf_counter() - started) / len(sample) * 1e6
    started = time.perf_counter()
    for e in sample:
        orjson.dumps(e.model_dump(mode="json"))
    naive_us = (time.perf_counter() - started) / len(sample) * 1e6
    started = time.perf_counter()
    for w in wire:
        UsageEvent.model_validate_json(w)
    parse_us = (time.perf_counter() - started) / len(sample) * 1e6
    return {
        "to_bytes_us": round(to_bytes_us, 2),
        "model_dump_plus_orjson_us": round(naive_us, 2),
        "validate_json_us": round(parse_us, 2),
        "bytes_per_event": round(statistics.mean(len(w) for w in wire), 1),
    }


async def bench_producer(
    bootstrap: str, topic: str, events: list[UsageEvent], spool: Path
) -> dict[str, float]:
    """Event-loop CPU time per event: the loop thread does emit() and all of aiokafka's work."""
    producer = UsageProducer(bootstrap, topic, spool, buffer_size=len(events) + 1)
    await producer.start()
    producer.emit(events[0])  # connect and fetch metadata outside the measurement
    while producer.delivered < 1:
        await asyncio.sleep(0.01)
    emit_seconds = 0.0
    cpu_started, wall_started = time.thread_time(), time.perf_counter()
    for start in range(1, len(events), 500):  # bursts of 500 requests, the loop free in between
        t = time.perf_counter()
        for event in events[start : start + 500]:
            producer.emit(event)
        emit_seconds += time.perf_counter() - t
        await asyncio.sleep(0)
    while producer.delivered < len(events):
        await asyncio.sleep(0.002)
    cpu, wall = time.thread_time() - cpu_started, time.perf_counter() - wall_started
    await producer.stop()
    n = len(events) - 1
    return {
        "events": n,
        "loop_cpu_us_per_event": round(cpu / n * 1e6, 2),
        "emit_only_us_per_event": round(emit_seconds / n * 1e6, 2),
        "delivered_per_s": round(n / wall),
        "spooled": producer.spooled,
    }


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _loader_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {"batch_rows": args.batch_rows, "batch_seconds": args.batch_seconds,
               "linger_seconds": args.linger_seconds}
    return {k: v for k, v in options.items() if v is not None}


async def bench_consumer_once(
    clickhouse: ClickHouse, bootstrap: str, topic: str, n: int, options: dict[str, Any]
) -> dict[str, float]:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    loader = UsageLoader(clickhouse, bootstrap, topic, f"{topic}-dlq", group_id=group, **options)
    load_before = _load()
    started = time.perf_counter()
    task = asyncio.create_task(loader.run())
    first_rows_at = None
    while loader.stats.rows < n:
        await asyncio.sleep(0.02)
        if first_rows_at is None and loader.stats.rows:
            first_rows_at = (time.perf_counter(), loader.stats.rows, _process_cpu_s())
        if task.done():
            task.result()
    finished, cpu_finished = time.perf_counter(), _process_cpu_s()
    loader.stop()
    await task
    assert first_rows_at is not None
    steady_rows = n - first_rows_at[1]
    return {
        "events": n,
        "wall_s_including_group_join": round(finished - started, 2),
        "events_per_s_including_join": round(n / (finished - started)),
        "events_per_s_steady": round(steady_rows / max(finished - first_rows_at[0], 1e-6)),
        "cpu_us_per_event": round((cpu_finished - first_rows_at[2]) / max(steady_rows, 1) * 1e6, 1),
        "batches": loader.stats.batches,
        "inserts": loader.stats.inserts,
        "max_insert_rows": loader.stats.max_insert_rows,
        "last_insert_ms": round(loader.stats.last_insert_ms, 1),
        "insert_wall_us_per_row": round(loader.stats.insert_seconds / max(loader.stats.rows, 1) * 1e6, 1),
        "load_average": [load_before, _load()],
    }


async def bench_consumer(
    url: str, bootstrap: str, topic: str, n: int, repeat: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Each run drains the topic with a new group into a new database (else every event would be a
    duplicate of the previous run's)."""
    runs = []
    for i in range(repeat):
        clickhouse = ClickHouse(url, f"bench_consumer_{i}")
        await clickhouse.apply_schema()
        runs.append(await bench_consumer_once(clickhouse, bootstrap, topic, n, options))
        await clickhouse.command(f"DROP DATABASE {clickhouse.database}")
        await clickhouse.close()
    median = sorted(runs, key=lambda r: r["events_per_s_steady"])[len(runs) // 2]
    return {**median, "runs_events_per_s_steady": [r["events_per_s_steady"] for r in runs],
            "runs_cpu_us_per_event": [r["cpu_us_per_event"] for r in runs]}


async def bench_freshness(
    clickhouse: ClickHouse, bootstrap: str, topic: str, spool: Path, rate: int, seconds: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The gateway topology with chdb: producer and loader in one process, one event loop."""
    producer = UsageProducer(bootstrap, topic, spool)
    await producer.start()
    group = f"fresh-{uuid.uuid4().hex[:6]}"
    loader = UsageLoader(clickhouse, bootstrap, topic, f"{topic}-dlq", group_id=group, **options)
    task = asyncio.create_task(loader.run())
    warm = make_events(1, "warm")[0]
    producer.emit(warm)
    while loader.stats.rows < 1:  # group joined, partitions assigned, recent ids restored
        await asyncio.sleep(0.05)
    total = int(rate * seconds)
    events = make_events(total, f"fresh-{uuid.uuid4().hex[:6]}")
    emitted: dict[str, float] = {}
    seen: dict[str, float] = {}
    inserts_before, cpu_before, load_before = loader.stats.inserts, _process_cpu_s(), _load()
    started = time.perf_counter()

    async def emit_paced() -> None:
        started = time.perf_counter()
        for i, event in enumerate(events):
            due = started + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            emitted[event.request_id] = time.perf_counter()
            producer.emit(event)

    async def watch() -> None:
        prefix = events[0].request_id.rsplit("-", 1)[0] + "-%"
        while len(seen) < total:
            rows = await clickhouse.query(
                "SELECT request_id, kafka_offset FROM usage_events WHERE request_id LIKE {p:String}"
                " AND inserted_at >= now64(3) - INTERVAL 10 SECOND", {"p": prefix})
            now = time.perf_counter()
            for row in rows:
                seen.setdefault(row["request_id"], now)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(asyncio.gather(emit_paced(), watch()), seconds + 60)
    elapsed = time.perf_counter() - started
    cpu = _process_cpu_s() - cpu_before
    lags = sorted(seen[r] - emitted[r] for r in emitted)
    parts = await clickhouse.query(
        "SELECT table, count() AS n FROM system.parts WHERE database = currentDatabase() AND active"
        " GROUP BY table ORDER BY table")
    loader.stop()
    await producer.stop()
    await task
    return {
        "inserts_per_s": round((loader.stats.inserts - inserts_before) / elapsed, 1),
        "process_cpu_s_per_s": round(cpu / elapsed, 3),
        "active_parts_at_end": {row["table"]: row["n"] for row in parts},
        "load_average": [load_before, _load()],
        "rate_per_s": rate,
        "events": total,
        "p50_s": round(lags[len(lags) // 2], 3),
        "p95_s": round(lags[int(len(lags) * 0.95)], 3),
        "p99_s": round(lags[int(len(lags) * 0.99)], 3),
        "max_s": round(lags[-1], 3),
    }


async def run(args: argparse.Namespace, bootstrap: str, workdir: Path) -> dict[str, Any]:
    stages = set(args.stages.split(","))
    run_id = uuid.uuid4().hex[:6]
    topics = {f"bench-produce-{run_id}": PARTITIONS, f"bench-fresh-{run_id}": PARTITIONS,
              f"bench-fresh-{run_id}-dlq": 1, f"bench-produce-{run_id}-dlq": 1}
    await ensure_topics(bootstrap, topics)
    results: dict[str, Any] = {}
    topic = f"bench-produce-{run_id}"
    if stages & {"serialisation", "producer", "consumer"}:
        print(f"generating {args.events:,} events ...", flush=True)
        events = make_events(args.events, f"load-{run_id}")
        if "serialisation" in stages:
            results["serialisation"] = bench_serialisation(events)
        if stages & {"producer", "consumer"}:
            print("producer ...", flush=True)
            producer = await bench_producer(bootstrap, topic, events, workdir / "spool1")
            if "producer" in stages:
                results["producer"] = {**producer, "load_average": _load()}
        del events
    url = f"chdb://{workdir / 'clickhouse'}"
    options = _loader_options(args)
    if "consumer" in stages:
        print("consumer ...", flush=True)
        results["consumer"] = await bench_consumer(url, bootstrap, topic, args.events, args.repeat, options)
    clickhouse = ClickHouse(url, "bench")
    await clickhouse.apply_schema()
    if "freshness" in stages:
        print("freshness ...", flush=True)
        results["freshness"] = await bench_freshness(
            clickhouse, bootstrap, f"bench-fresh-{run_id}", workdir / "spool2", args.rate, args.seconds,
            options)
    await clickhouse.close()
    results["loader_options"] = options
    return results


def print_table(results: dict[str, Any]) -> None:
    rows = []
    if "serialisation" in results:
        ser = results["serialisation"]
        rows.append(("serialise one event (to_bytes)", f"{ser['to_bytes_us']} us",
                     f"{ser['bytes_per_event']:.0f} bytes; model_dump+orjson "
                     f"{ser['model_dump_plus_orjson_us']} us", ""))
    if "producer" in results:
        prod = results["producer"]
        rows.append(("producer: event-loop CPU per event", f"{prod['loop_cpu_us_per_event']} us",
                     f"emit() alone {prod['emit_only_us_per_event']} us; load {prod['load_average']}",
                     "<= 30 us"))
    if "consumer" in results:
        cons = results["consumer"]
        rows.append(("consumer: events/s into ClickHouse", f"{cons['events_per_s_steady']:,}",
                     f"runs {cons['runs_events_per_s_steady']}; {cons['cpu_us_per_event']} us CPU/event; "
                     f"{cons['inserts']} inserts, max {cons['max_insert_rows']:,} rows, "
                     f"{cons['insert_wall_us_per_row']} us/row inside inserts; "
                     f"load {cons['load_average']}", ">= 50,000"))
    if "freshness" in results:
        fresh = results["freshness"]
        rows.append((f"freshness p99 at {fresh['rate_per_s']} ev/s", f"{fresh['p99_s']} s",
                     f"p50 {fresh['p50_s']} s, max {fresh['max_s']} s; {fresh['inserts_per_s']} inserts/s, "
                     f"{fresh['process_cpu_s_per_s']} CPU s/s; load {fresh['load_average']}", "<= 2 s"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)] if rows else [0] * 4
    header = ("measure", "value", "detail", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bootstrap", default="", help="use this Kafka instead of starting one")
    parser.add_argument("--repeat", type=int, default=1, help="consumer runs (median reported)")
    parser.add_argument("--stages", default="serialisation,producer,consumer,freshness")
    parser.add_argument("--batch-rows", type=int, default=None, help="loader option (default: its own)")
    parser.add_argument("--batch-seconds", type=float, default=None)
    parser.add_argument("--linger-seconds", type=float, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    stack = None
    try:
        bootstrap = args.bootstrap
        if not bootstrap:
            stack = LocalStack(workdir / "stack", StackPorts.free(), services=["kafka"])
            bootstrap = stack.start().kafka_bootstrap_servers
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        results = runner(run(args, bootstrap, workdir))
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["targets"] = TARGETS
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
