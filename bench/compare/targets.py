"""The systems under test, each started as its own process in front of the mock upstream.

``direct`` is the mock itself; ``switchyard``, ``litellm`` and ``portkey`` are gateways whose process
tree the harness measures. LiteLLM lives in its own virtualenv and Portkey's open-source gateway in its
own npm folder under ``.data/bench`` (installed on first use); neither touches the project's ``.venv``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.compare.procs import Child, wait_for_port
from bench.compare.wrk import Load

MOCK_KEY = "sk-bench-mock"
# LiteLLM's proxy refuses to start without a master key; clients then send it as their bearer key.
LITELLM_MASTER_KEY = "sk-litellm-bench-" + "7f3a9c2e5b8d4f6a1c0e9b7d3a5f8c2e"


@dataclass
class Target:
    """One system under test: where to send load, how, and which process tree to measure."""

    name: str
    url: str
    load: Load
    child: Child
    owns_child: bool = True  # False for ``direct``: the mock is shared and stopped by the harness
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.owns_child:
            self.child.stop()


def start_mock(
    port: int, log_dir: Path, delay_ms: float = 0, chunks: int = 20, cpus: str | None = "1"
) -> Child:
    argv = [
        sys.executable,
        "-m",
        "bench.mock_upstream",
        "--port",
        str(port),
        "--delay-ms",
        f"{delay_ms:g}",
        "--chunks",
        str(chunks),
    ]
    child = Child(f"mock(delay={delay_ms:g}ms)", argv, log_dir / "mock.log", cpus=cpus)
    wait_for_port(port, child, timeout=30)
    return child


def direct_target(mock: Child, mock_port: int) -> Target:
    return Target("direct", f"http://127.0.0.1:{mock_port}", Load(key=MOCK_KEY), mock, owns_child=False)


def start_switchyard(
    port: int, env: Mapping[str, str], key: str, log_dir: Path, workers: int = 1, cpus: str | None = "0"
) -> Target:
    argv = [sys.executable, "-m", "gateway", "serve", "--workers", str(workers)]
    child = Child(
        f"switchyard(workers={workers})",
        argv,
        log_dir / f"switchyard-w{workers}.log",
        env={**os.environ, **env, "SWITCHYARD_PORT": str(port)},
        cpus=cpus,
    )
    wait_for_port(port, child, timeout=180)
    return Target("switchyard", f"http://127.0.0.1:{port}", Load(key=key), child)


# ---- LiteLLM proxy ------------------------------------------------------------------------------------


def ensure_litellm(venv: Path) -> Path:
    """The ``litellm`` CLI from its own venv, created and installed with pip on first use."""
    cli = venv / "bin" / "litellm"
    if cli.exists():
        return cli
    print(f"installing LiteLLM proxy into its own venv {venv} (pip install 'litellm[proxy]')", flush=True)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return cli


def litellm_config(mock_url: str) -> str:
    return (
        "model_list:\n"
        "  - model_name: gpt-4.1-nano\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4.1-nano\n"
        f"      api_base: {mock_url}/v1\n"
        f"      api_key: {MOCK_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )


def start_litellm(
    port: int, mock_url: str, work_dir: Path, log_dir: Path, workers: int = 1, cpus: str | None = "0"
) -> Target:
    cli = ensure_litellm(work_dir / "litellm-venv")
    config = work_dir / "litellm.yaml"
    config.write_text(litellm_config(mock_url))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_SCHEMA_UPDATE": "True",
            "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
        }
    )
    argv = [
        str(cli),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
    ]
    child = Child(
        f"litellm(workers={workers})", argv, log_dir / f"litellm-w{workers}.log", env=env, cpus=cpus
    )
    wait_for_port(port, child, timeout=240)
    return Target("litellm", f"http://127.0.0.1:{port}", Load(key=LITELLM_MASTER_KEY), child)


# ---- Portkey gateway (open source, Node) --------------------------------------------------------------

PORTKEY_PACKAGE = "@portkey-ai/gateway"


def ensure_portkey(folder: Path) -> Path:
    """Portkey's start script, installed from npm into ``folder`` on first use."""
    script = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if script.exists():
        return script
    if not shutil.which("npm"):
        raise RuntimeError("npm is not installed (Portkey's gateway is a Node package)")
    print(f"installing Portkey's gateway from npm into {folder} (npm install {PORTKEY_PACKAGE})", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").exists():
        subprocess.run(["npm", "init", "-y"], cwd=folder, check=True, capture_output=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", PORTKEY_PACKAGE],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return script


def start_portkey(port: int, mock_url: str, work_dir: Path, log_dir: Path, cpus: str | None = "0") -> Target:
    script = ensure_portkey(work_dir / "portkey")
    argv = ["node", str(script), f"--port={port}", "--headless"]
    child = Child("portkey", argv, log_dir / "portkey.log", cpus=cpus)
    wait_for_port(port, child, timeout=60)
    # Portkey routes by headers: the provider's wire format, and a custom host (our mock) for it.
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{mock_url}/v1"}
    return Target("portkey", f"http://127.0.0.1:{port}", Load(key=MOCK_KEY, headers=headers), child)
