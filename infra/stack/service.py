"""What every service of the stack looks like: prepare, launch, wait until ready, stop."""

from __future__ import annotations

import signal
import time
from abc import ABC, abstractmethod
from pathlib import Path

from infra.stack.errors import StackError
from infra.stack.processes import ManagedProcess, ensure_port_free, log_tail, wait_port_closed


class Service(ABC):
    """A child-process service with a port, a log file and a real health check.

    ``prepare`` does one-time, idempotent setup (initdb, jar resolution...),
    ``launch`` only spawns the process so several services can boot in parallel,
    ``wait_ready`` blocks until the health check passes.
    """

    name: str
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    ready_timeout: float = 60.0

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    @abstractmethod
    def ports(self) -> dict[int, str]:
        """Ports this service listens on, with a label for error messages."""

    @abstractmethod
    def prepare(self) -> None: ...

    @abstractmethod
    def process(self) -> ManagedProcess:
        """A fresh, not yet started process for this service."""

    @abstractmethod
    def check_ready(self) -> bool:
        """One health probe; True when the service answers real requests."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def check_ports(self) -> None:
        for port, label in self.ports().items():
            ensure_port_free(port, label)

    def launch(self) -> None:
        if self.running:
            return
        self.check_ports()
        self._process = self.process()
        self._process.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        assert self._process is not None, f"{self.name} was never launched"
        while time.monotonic() < deadline:
            if not self._process.running:
                raise StackError(
                    f"{self.name} exited with code {self._process.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n{self._process.log_tail()}"
                )
            if self.check_ready():
                return
            time.sleep(0.2)
        self.stop()
        raise StackError(
            f"{self.name} did not become healthy within {timeout or self.ready_timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.stop(self.stop_timeout)
        self._wait_ports_closed()

    def kill(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._wait_ports_closed()

    def _wait_ports_closed(self) -> None:
        for port in self.ports():
            wait_port_closed(port, timeout=5.0)
