"""Usage pipeline benchmarks on a real local Kafka (started here, on free ports) and an embedded ClickHouse.

1. Event serialisation: cost and size of ``UsageEvent.to_bytes()`` (and of the naive alternative).
2. Producer cost per request in event-loop time: CPU time of the loop thread for ``emit()`` plus the
   background batching, lz4 compression and socket writes, divided by events (target <= 30 us).
3. Consumer throughput: pre-load N events (default 500,000) into a topic, then time one loader
   draining it into ClickHouse (target >= 50,000 events/s per process).
4. End-to-end freshness: emit at 1,000 events/s for 20 s with the loader running; time from emit()
   to the row being visible to a query (target p99 <= 2 s).

Usage: python -m bench.bench_pipeline [--events N] [--rate R] [--seconds S]
Writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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


async def bench_consumer(clickhouse: ClickHouse, bootstrap: str, topic: str, n: int) -> dict[str, float]:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    loader = UsageLoader(clickhouse, bootstrap, topic, f"{topic}-dlq", group_id=group)
    started = time.perf_counter()
    task = asyncio.create_task(loader.run())
    first_rows_at = None
    while loader.stats.rows < n:
        await asyncio.sleep(0.05)
        if first_rows_at is None and loader.stats.rows:
            first_rows_at = (time.perf_counter(), loader.stats.rows)
        if task.done():
            task.result()
    finished = time.perf_counter()
    loader.stop()
    await task
    assert first_rows_at is not None
    steady_rows = n - first_rows_at[1]
    return {
        "events": n,
        "wall_s_including_group_join": round(finished - started, 2),
        "events_per_s_including_join": round(n / (finished - started)),
        "events_per_s_steady": round(steady_rows / max(finished - first_rows_at[0], 1e-6)),
        "batches": loader.stats.batches,
        "last_insert_ms": round(loader.stats.last_insert_ms, 1),
    }


async def bench_freshness(
    clickhouse: ClickHouse, bootstrap: str, topic: str, spool: Path, rate: int, seconds: float
) -> dict[str, float]:
    """The gateway topology with chdb: producer and loader in one process, one event loop."""
    producer = UsageProducer(bootstrap, topic, spool)
    await producer.start()
    group = f"fresh-{uuid.uuid4().hex[:6]}"
    loader = UsageLoader(clickhouse, bootstrap, topic, f"{topic}-dlq", group_id=group)
    task = asyncio.create_task(loader.run())
    warm = make_events(1, "warm")[0]
    producer.emit(warm)
    while loader.stats.rows < 1:  # group joined, partitions assigned, recent ids restored
        await asyncio.sleep(0.05)
    total = int(rate * seconds)
    events = make_events(total, f"fresh-{uuid.uuid4().hex[:6]}")
    emitted: dict[str, float] = {}
    seen: dict[str, float] = {}

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
    lags = sorted(seen[r] - emitted[r] for r in emitted)
    loader.stop()
    await producer.stop()
    await task
    return {
        "rate_per_s": rate,
        "events": total,
        "p50_s": round(lags[len(lags) // 2], 3),
        "p95_s": round(lags[int(len(lags) * 0.95)], 3),
        "p99_s": round(lags[int(len(lags) * 0.99)], 3),
        "max_s": round(lags[-1], 3),
    }


async def run(args: argparse.Namespace, bootstrap: str, workdir: Path) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    topics = {f"bench-produce-{run_id}": PARTITIONS, f"bench-fresh-{run_id}": PARTITIONS,
              f"bench-fresh-{run_id}-dlq": 1, f"bench-produce-{run_id}-dlq": 1}
    await ensure_topics(bootstrap, topics)
    print(f"generating {args.events:,} events ...", flush=True)
    events = make_events(args.events, f"load-{run_id}")
    results: dict[str, Any] = {"serialisation": bench_serialisation(events)}
    print("producer ...", flush=True)
    topic = f"bench-produce-{run_id}"
    results["producer"] = await bench_producer(bootstrap, topic, events, workdir / "spool1")
    del events
    clickhouse = ClickHouse(f"chdb://{workdir / 'clickhouse'}", "bench")
    await clickhouse.apply_schema()
    print("consumer ...", flush=True)
    results["consumer"] = await bench_consumer(clickhouse, bootstrap, f"bench-produce-{run_id}", args.events)
    print("freshness ...", flush=True)
    results["freshness"] = await bench_freshness(
        clickhouse, bootstrap, f"bench-fresh-{run_id}", workdir / "spool2", args.rate, args.seconds)
    await clickhouse.close()
    return results


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("serialise one event (to_bytes)", f"{results['serialisation']['to_bytes_us']} us",
         f"{results['serialisation']['bytes_per_event']:.0f} bytes; model_dump+orjson "
         f"{results['serialisation']['model_dump_plus_orjson_us']} us", ""),
        ("producer: event-loop CPU per event", f"{results['producer']['loop_cpu_us_per_event']} us",
         f"emit() alone {results['producer']['emit_only_us_per_event']} us", "<= 30 us"),
        ("consumer: events/s into ClickHouse", f"{results['consumer']['events_per_s_steady']:,}",
         f"{results['consumer']['events_per_s_including_join']:,}/s incl. group join", ">= 50,000"),
        ("freshness p99 at {} ev/s".format(results["freshness"]["rate_per_s"]),
         f"{results['freshness']['p99_s']} s",
         f"p50 {results['freshness']['p50_s']} s, max {results['freshness']['max_s']} s", "<= 2 s"),
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for row in [("measure", "value", "detail", "target"), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bootstrap", default="", help="use this Kafka instead of starting one")
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
