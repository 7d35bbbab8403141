"""The provider simulators (``python -m infra.simulators <provider> --port N``), one process each."""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request
from pathlib import Path

from infra.stack.errors import StackError
from infra.stack.processes import HOST, ManagedProcess
from infra.stack.service import Service

PROVIDERS = ("openai", "anthropic", "google")
REPO_ROOT = Path(__file__).resolve().parents[2]


class SimulatorService(Service):
    stop_timeout = 10.0

    def __init__(self, provider: str, logs_dir: Path, port: int) -> None:
        super().__init__(logs_dir)
        self.name = provider
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def ports(self) -> dict[int, str]:
        return {self.port: f"{self.name} simulator"}

    def prepare(self) -> None:
        if importlib.util.find_spec("infra.simulators") is None:
            raise StackError(
                "the provider simulators (package infra.simulators) are missing from this checkout; "
                "start the stack without them (--no-simulators, or services=('postgres', 'kafka'))"
            )

    def process(self) -> ManagedProcess:
        argv = [sys.executable, "-m", "infra.simulators", self.name, "--port", str(self.port)]
        return ManagedProcess(self.name, argv, self.log_path, cwd=REPO_ROOT)

    def check_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
