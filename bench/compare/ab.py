"""Switchyard built from two (or more) source trees, measured in turns on one stack and one mock.

Run: ``.venv/bin/python -m bench.compare.ab OLD_TREE,NEW_TREE [--rounds 2] [--port-base 49880]``.

A tree is a checkout of the repository (``git archive <commit> | tar -x -C /tmp/old`` gives one without
touching the working tree). Each round starts the gateway from every tree in turn (``python -m gateway
serve`` with the tree as working directory, pinned to CPU 0), warms it up, then runs scenario (a) (32
connections) and (b) (4 connections) twice for 5 s each. Interleaving the trees inside one run is what
makes the comparison fair on a shared machine: both see the same neighbours. Prints medians of CPU
ms/request (user and system apart), req/s and p50, with the load average, and writes the raw runs to
``bench/results/ab.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.compare.procs import Child, _stat_fields, peak_rss_mb, process_tree, wait_for_port
from bench.compare.switchyard_stack import SwitchyardStack
from bench.compare.targets import start_mock
from bench.compare.wrk import Load, run_wrk

ROOT = Path(__file__).resolve().parent.parent.parent
WORK_DIR = ROOT / ".data" / "bench-ab"
RESULTS = ROOT / "bench" / "results" / "ab.json"
SCENARIOS = (("a_32c_0ms", 32), ("b_4c_0ms", 4))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def user_system_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid``'s process tree, reaped children included."""
    user = system = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def measure_tree(tree: Path, stack: SwitchyardStack, port: int, logs: Path) -> dict[str, Any]:
    child = Child(
        f"switchyard({tree})",
        [sys.executable, "-m", "gateway", "serve"],
        logs / "switchyard-ab.log",
        env={**os.environ, **stack.env, "SWITCHYARD_PORT": str(port)},
        cpus="0",
        cwd=tree,
    )
    try:
        wait_for_port(port, child, timeout=180)
        url, load = f"http://127.0.0.1:{port}", Load(key=stack.key)
        run_wrk(url, load, 32, 3)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {}
        for name, connections in SCENARIOS:
            for _ in range(2):
                user0, system0 = user_system_seconds(child.pid)
                result = run_wrk(url, load, connections, 5)
                user1, system1 = user_system_seconds(child.pid)
                requests = max(result.requests, 1)
                runs.setdefault(name, []).append(
                    {
                        "cpu_ms_per_request": (user1 - user0 + system1 - system0) * 1000 / requests,
                        "user_ms_per_request": (user1 - user0) * 1000 / requests,
                        "system_ms_per_request": (system1 - system0) * 1000 / requests,
                        "rps": result.rps,
                        "p50_ms": result.p50_ms,
                        "errors": result.errors,
                        "load_average": os.getloadavg()[0],
                    }
                )
        return {"runs": runs, "peak_rss_mb": peak_rss_mb(child.pid)}
    finally:
        child.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare.ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trees", help="comma-separated source trees, e.g. /tmp/old,.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port-base", type=int, default=49880, help="gateway port; mock +10, stack +20..+26")
    args = parser.parse_args(argv)
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    logs = WORK_DIR / "logs"
    mock_port = args.port_base + 10
    mock = start_mock(mock_port, logs, cpus="1")
    stack = SwitchyardStack(WORK_DIR, f"http://127.0.0.1:{mock_port}", port_base=args.port_base + 20)
    results: dict[str, list[dict[str, Any]]] = {str(tree): [] for tree in trees}
    try:
        stack.start()
        for _ in range(args.rounds):
            for tree in trees:
                results[str(tree)].append(measure_tree(tree, stack, args.port_base, logs))
    finally:
        stack.stop()
        mock.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for tree, rounds in results.items():
        for name, _ in SCENARIOS:
            runs = [run for one in rounds for run in one["runs"][name]]

            def median(field: str, runs: list[dict[str, float]] = runs) -> float:
                return statistics.median(run[field] for run in runs)

            print(
                f"{tree:<28} {name:<10} CPU {median('cpu_ms_per_request'):.3f} ms/req (user "
                f"{median('user_ms_per_request'):.3f}, system {median('system_ms_per_request'):.3f})  "
                f"{median('rps'):.0f} req/s  p50 {median('p50_ms'):.2f} ms  load {median('load_average'):.1f}"
                f"  errors {sum(run['errors'] for run in runs)}"
            )
        print(f"{tree:<28} peak RSS {max(one['peak_rss_mb'] for one in rounds):.0f} MB")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
