"""Switchyard's per-request cost side by side with LiteLLM and Portkey, all in front of one fast mock.

Run: ``.venv/bin/python -m bench.gateway_bench [--quick] [--only switchyard,direct] [--profile] [--leak]``.

Each gateway runs as one worker pinned to CPU 0; the mock upstream and wrk share CPU 1. Scenarios:
(a) 32 connections, upstream 0 ms: max req/s and CPU ms per request; (b) 4 connections: added latency
vs direct; (c) upstream 20 ms with 32 and 128 connections; (d) streaming, 32 connections, 20 chunks;
(e) 2 workers on both cores: total req/s. Each scenario: a warm-up, then 3 x 20 s (``--quick``: 1 x 5 s),
medians reported. Switchyard runs in its production topology (key auth, Redis rate limit, classifier,
router, usage events to Kafka, the loader as its own process) and its usage events are counted in
ClickHouse at the end. Results: ``bench/results/gateway.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.compare.procs import cpu_seconds, load_average, peak_rss_mb
from bench.compare.report import added_latency, ratios, summarise, table
from bench.compare.switchyard_stack import SwitchyardStack
from bench.compare.targets import (
    Target,
    direct_target,
    start_litellm,
    start_mock,
    start_portkey,
    start_switchyard,
)
from bench.compare.wrk import ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / ".data" / "bench"
RESULTS = ROOT / "bench" / "results" / "gateway.json"
DEFAULT_PORT_BASE = 19810
# Offsets from ``--port-base``; the stack (Postgres, Kafka, Redis, ...) takes base+20 to base+26.
PORT_OFFSETS = {
    "mock": 0,
    "portkey": 10,
    "switchyard": 30,
    "switchyard_2w": 31,
    "litellm": 40,
    "litellm_2w": 41,
}
STACK_PORT_OFFSET = 20
ALL_TARGETS = ("direct", "switchyard", "litellm", "portkey")
CHUNKS = 20


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    delay_ms: float
    stream: bool = False


SCENARIOS = (
    Scenario("a_32c_0ms", 32, 0),
    Scenario("b_4c_0ms", 4, 0),
    Scenario("d_stream_32c", 32, 0, stream=True),
    Scenario("c_32c_20ms", 32, 20),
    Scenario("c_128c_20ms", 128, 20),
)


@dataclass(frozen=True)
class Timing:
    repetitions: int
    seconds: float
    warmup_s: float


def measure(
    target: Target, scenario: Scenario, timing: Timing, wrk_cpus: str | None = "1", threads: int = 1
) -> dict[str, Any]:
    """Warm up, then ``timing.repetitions`` runs, reading the target's CPU time around each."""
    load = target.load
    load.stream = scenario.stream
    run_wrk(target.url, load, scenario.connections, timing.warmup_s, cpus=wrk_cpus, threads=threads)
    runs = []
    for _ in range(timing.repetitions):
        before = cpu_seconds(target.child.pid)
        result = run_wrk(
            target.url, load, scenario.connections, timing.seconds, cpus=wrk_cpus, threads=threads
        )
        runs.append((result, cpu_seconds(target.child.pid) - before))
    summary = summarise(runs, peak_rss_mb(target.child.pid)).as_dict()
    print(
        f"  {scenario.name:<14} {target.name:<11} {summary['rps']:>8.0f} req/s  p50 {summary['p50_ms']:.2f}"
        f"  p99 {summary['p99_ms']:.2f} ms  CPU {summary['cpu_ms_per_request']:.3f} ms/req"
        f"  errors {summary['errors']}",
        flush=True,
    )
    return summary


def metric_value(base_url: str, name: str) -> float | None:
    """A counter from a gateway's /metrics, summed over its labels (None when unreadable)."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return sum(float(v) for v in values) if values else None


class Bench:
    """Owns every process it starts, so one ``close()`` stops them all."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.timing = Timing(1, 5, 2) if args.quick else Timing(3, 20, 5)
        self.wanted = [t.strip() for t in args.only.split(",")] if args.only else list(ALL_TARGETS)
        self.logs = WORK_DIR / "logs"
        self.ports = {name: args.port_base + offset for name, offset in PORT_OFFSETS.items()}
        self.mock_url = f"http://127.0.0.1:{self.ports['mock']}"
        self.stack: SwitchyardStack | None = None
        self.mock = None
        self.targets: dict[str, Target] = {}
        self.notes: dict[str, str] = {}
        self.results: dict[str, dict[str, dict[str, Any]]] = {}

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start_mock(self, delay_ms: float, cpus: str | None = "1") -> None:
        if self.mock is not None:
            self.mock.stop()
        self.mock = start_mock(self.ports["mock"], self.logs, delay_ms=delay_ms, chunks=CHUNKS, cpus=cpus)
        if "direct" in self.wanted:
            self.targets["direct"] = direct_target(self.mock, self.ports["mock"])

    def start_gateways(self) -> None:
        starters: dict[str, Callable[[], Target]] = {
            "switchyard": self._start_switchyard,
            "litellm": lambda: start_litellm(self.ports["litellm"], self.mock_url, WORK_DIR, self.logs),
            "portkey": lambda: start_portkey(self.ports["portkey"], self.mock_url, WORK_DIR, self.logs),
        }
        for name, start in starters.items():
            if name not in self.wanted:
                continue
            print(f"starting {name} ...", flush=True)
            try:
                self.targets[name] = start()
            except Exception as exc:
                self.notes[name] = f"could not be started: {exc}"
                print(f"  {name}: {self.notes[name]}", file=sys.stderr, flush=True)
                if name == "switchyard":
                    raise

    def _start_switchyard(self) -> Target:
        stack_base = self.args.port_base + STACK_PORT_OFFSET
        self.stack = SwitchyardStack(WORK_DIR, self.mock_url, port_base=stack_base)
        self.stack.start()
        return start_switchyard(self.ports["switchyard"], self.stack.env, self.stack.key, self.logs)

    def close(self) -> None:
        for target in self.targets.values():
            target.stop()
        if self.mock is not None:
            self.mock.stop()
        if self.stack is not None:
            self.stack.stop()

    # ---- scenarios ---------------------------------------------------------------------------------
    def run_scenarios(self) -> None:
        delay: float | None = None
        for scenario in SCENARIOS:
            if self.args.scenarios and scenario.name[0] not in self.args.scenarios:
                continue
            if scenario.delay_ms != delay:
                delay = scenario.delay_ms
                self.start_mock(delay)
            print(
                f"scenario {scenario.name}: {scenario.connections} connections, upstream {delay:g} ms"
                f"{', streaming' if scenario.stream else ''}",
                flush=True,
            )
            row: dict[str, dict[str, Any]] = {}
            for name in ALL_TARGETS:
                if name in self.targets:
                    row[name] = self._measure_safely(self.targets[name], scenario)
            self.results[scenario.name] = row

    def _measure_safely(self, target: Target, scenario: Scenario, **kwargs: Any) -> dict[str, Any]:
        try:
            return measure(target, scenario, self.timing, **kwargs)
        except Exception as exc:
            self.notes[f"{scenario.name}/{target.name}"] = f"run failed: {exc}"
            print(f"  {scenario.name} {target.name}: run failed: {exc}", file=sys.stderr, flush=True)
            return {}

    def switchyard_emitted(self) -> int | None:
        target = self.targets.get("switchyard")
        if target is None:
            return None
        time.sleep(1.0)  # requests cut off when wrk stopped finish first
        # One increment per usage event handed to the producer (chat/handler.py ``_emit``).
        value = metric_value(target.url, "switchyard_requests_total")
        return int(value) if value is not None else None

    def run_two_workers(self) -> dict[str, dict[str, Any]]:
        """(e) two workers on both cores, mock on loopback unpinned: total req/s (Switchyard, LiteLLM)."""
        scenario = Scenario("e_2workers_32c", 32, 0)
        self.start_mock(0, cpus=None)
        row: dict[str, dict[str, Any]] = {}
        if "direct" in self.targets:
            row["direct"] = self._measure_safely(self.targets["direct"], scenario, wrk_cpus=None, threads=2)
        print(f"scenario {scenario.name}: 2 workers unpinned", flush=True)
        starters: dict[str, Callable[[], Target]] = {}
        if self.stack is not None:
            starters["switchyard"] = lambda: start_switchyard(
                self.ports["switchyard_2w"], self.stack.env, self.stack.key, self.logs, workers=2, cpus=None
            )
        if "litellm" in self.wanted:
            starters["litellm"] = lambda: start_litellm(
                self.ports["litellm_2w"], self.mock_url, WORK_DIR, self.logs, workers=2, cpus=None
            )
        for name, start in starters.items():
            try:
                target = start()
            except Exception as exc:
                self.notes[f"{scenario.name}/{name}"] = f"could not be started: {exc}"
                continue
            try:
                time.sleep(3)  # both workers up
                row[name] = self._measure_safely(target, scenario, wrk_cpus=None, threads=2)
            finally:
                target.stop()
        self.notes[f"{scenario.name}/portkey"] = "not run: Portkey's Node server is one process (no workers)"
        return row

    def profile(self) -> dict[str, Any]:
        """py-spy on the Switchyard worker under scenario (a) load: an SVG and a raw collapsed-stack file."""
        from bench.compare.profile import profile_under_load

        target = self.targets["switchyard"]
        self.start_mock(0)
        return profile_under_load(target, WORK_DIR, seconds=self.args.profile_seconds)

    def leak(self) -> dict[str, Any]:
        from bench.compare.leak import leak_run

        self.start_mock(0)
        return leak_run(
            self.targets["switchyard"], max_requests=1_000_000, max_seconds=self.args.leak_seconds
        )


def environment() -> dict[str, Any]:
    wrk_version = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "wrk": wrk_version.strip(),
        "load_average_at_start": [round(x, 2) for x in load_average()],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="1 x 5 s per scenario instead of 3 x 20 s")
    parser.add_argument(
        "--only", default="", help="comma-separated targets: direct,switchyard,litellm,portkey"
    )
    parser.add_argument(
        "--scenarios", default="abcde", help="letters of the scenarios to run (default abcde)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the Switchyard worker under load")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--leak", action="store_true", help="up to 1,000,000 requests / 10 min: RSS drift")
    parser.add_argument("--leak-seconds", type=int, default=600)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--port-base", type=int, default=DEFAULT_PORT_BASE, help="first of the ~42 ports the run uses"
    )
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"environment": environment(), "mode": "quick" if args.quick else "full"}
    bench = Bench(args)
    report["timing"] = vars(bench.timing)
    try:
        bench.start_mock(0)
        bench.start_gateways()
        bench.run_scenarios()
        if "e" in args.scenarios:
            bench.results["e_2workers_32c"] = {}
        if args.profile and "switchyard" in bench.targets:
            report["profile"] = bench.profile()
        if args.leak and "switchyard" in bench.targets:
            report["leak"] = bench.leak()
        emitted = bench.switchyard_emitted()
        if "switchyard" in bench.targets:
            bench.targets.pop("switchyard").stop()  # flushes its producer
        if "e" in args.scenarios:
            bench.results["e_2workers_32c"] = bench.run_two_workers()
        if bench.stack is not None:
            print("checking usage events (loader drain, then ClickHouse row count) ...", flush=True)
            report["usage_events"] = bench.stack.usage_check(emitted)
    finally:
        bench.close()

    report["results"] = bench.results
    report["ratios"] = {name: ratios(row) for name, row in bench.results.items()}
    report["added_latency_vs_direct"] = {name: added_latency(row) for name, row in bench.results.items()}
    report["notes"] = bench.notes
    report["environment"]["load_average_at_end"] = [round(x, 2) for x in load_average()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table(bench.results))
    print(
        json.dumps(
            {
                "ratios": report["ratios"],
                "added_latency_vs_direct": report["added_latency_vs_direct"],
                "usage_events": report.get("usage_events"),
                "notes": bench.notes,
            },
            indent=2,
        )
    )
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
