"""Driving ``wrk`` with ``bench/wrk/chat.lua`` and reading the line its ``done()`` prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent.parent / "wrk" / "chat.lua"


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (said on stdout)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package 'wrk')", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


@dataclass
class Load:
    """What wrk sends: path, bearer key, model, streaming, extra headers."""

    key: str = ""
    model: str = "gpt-4.1-nano"
    stream: bool = False
    path: str = "/v1/chat/completions"
    headers: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "BENCH_KEY": self.key,
            "BENCH_MODEL": self.model,
            "BENCH_STREAM": "1" if self.stream else "0",
            "BENCH_PATH": self.path,
            "BENCH_HEADERS": "|".join(f"{name}: {value}" for name, value in self.headers.items()),
        }


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    errors: int  # non-2xx plus socket errors
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def run_wrk(
    url: str,
    load: Load,
    connections: int,
    seconds: float,
    cpus: str | None = "1",
    threads: int = 1,
    timeout_s: int = 10,
) -> WrkResult:
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    out = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **load.env()}, timeout=seconds + 120
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    socket_errors = sum(data[f"errors_{kind}"] for kind in ("connect", "read", "write", "timeout"))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors=socket_errors + data["errors_status"],
        non_2xx=data["errors_status"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )
