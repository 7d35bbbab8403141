"""py-spy on a gateway worker under load: a flame graph, a raw collapsed-stack file and its top costs."""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.compare.targets import Target
from bench.compare.wrk import LUA, ensure_wrk


def ensure_py_spy() -> str:
    """py-spy from the running interpreter's environment, pip-installed there for the run if missing."""
    local = Path(sys.executable).parent / "py-spy"
    if local.exists():
        return str(local)
    found = shutil.which("py-spy")
    if found:
        return found
    print("installing py-spy for profiling (pip install py-spy; not a project dependency)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(local)


# Frames at the bottom of every stack of the gateway's event-loop thread (``python -m gateway serve``):
# stacks without it belong to idle helper threads (resolver, chdb executor) and are left out.
MAIN_THREAD_MARKER = "(gateway/__main__.py"


def top_functions(collapsed: Path, limit: int = 30, marker: str = MAIN_THREAD_MARKER) -> dict[str, Any]:
    """Self and inclusive share of the event-loop thread's samples per function (py-spy raw output)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit() or marker not in stack:
            continue
        count = int(count_text)
        # One entry per function: line numbers are dropped so a function's lines add up.
        frames = [
            re.sub(r":\d+\)$", ")", f)
            for f in stack.split(";")
            if not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 2)) for name, n in counter.most_common(limit)]

    return {"samples": total, "self_pct": share(own), "inclusive_pct": share(inclusive)}


def profile_under_load(
    target: Target, work_dir: Path, seconds: int = 15, connections: int = 32
) -> dict[str, Any]:
    py_spy = ensure_py_spy()
    svg, raw, dump = work_dir / "profile.svg", work_dir / "profile.txt", work_dir / "profile-dump.txt"
    load = target.load
    load.stream = False
    wrk = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            ensure_wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{2 * seconds + 15}s",
            "-s",
            str(LUA),
            target.url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **load.env()},
    )
    try:
        pid = str(target.child.pid)
        subprocess.run(
            [py_spy, "record", "-o", str(svg), "--pid", pid, "--duration", str(seconds)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [py_spy, "record", "--format", "raw", "-o", str(raw), "--pid", pid, "--duration", str(seconds)],
            check=True,
            capture_output=True,
        )
        dump.write_text(subprocess.run([py_spy, "dump", "--pid", pid], capture_output=True, text=True).stdout)
    finally:
        wrk.terminate()
        wrk.wait(10)
    summary = top_functions(raw)
    print("profile: top self time")
    for name, pct in summary["self_pct"][:15]:
        print(f"  {pct:6.2f}%  {name}")
    print("profile: top inclusive time")
    for name, pct in summary["inclusive_pct"][:30]:
        print(f"  {pct:6.2f}%  {name}")
    return {"svg": str(svg), "raw": str(raw), "dump": str(dump), **summary}
