"""Redis from Debian's ``redis-server`` binary (or any on PATH), listening on 127.0.0.1.

It holds only rate-limit counters and the response cache, so nothing is persisted: no RDB
snapshots, no AOF. Memory is capped and evicted least-recently-used first, which is exactly
what a cache wants (rate-limit keys are tiny and expire within minutes).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from infra.stack.errors import StackError
from infra.stack.processes import HOST, ManagedProcess
from infra.stack.service import Service

DEFAULT_MAXMEMORY = "256mb"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise StackError(
            "redis-server is not installed: run `apt-get install -y redis-server` (make setup does it), "
            "or point REDIS_URL at a running Redis"
        )
    return found


class RedisService(Service):
    name = "redis"
    stop_timeout = 10.0
    ready_timeout = 20.0

    def __init__(self, data_dir: Path, logs_dir: Path, port: int, maxmemory: str = DEFAULT_MAXMEMORY) -> None:
        super().__init__(logs_dir)
        self.data_dir = data_dir
        self.port = port
        self.maxmemory = maxmemory

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def ports(self) -> dict[int, str]:
        return {self.port: "redis"}

    def prepare(self) -> None:
        redis_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def process(self) -> ManagedProcess:
        argv = [
            redis_server_binary(),
            "--bind", HOST, "--port", str(self.port),
            "--dir", self.data_dir,
            "--save", "", "--appendonly", "no",
            "--maxmemory", self.maxmemory, "--maxmemory-policy", "allkeys-lru",
            "--protected-mode", "yes", "--daemonize", "no",
        ]  # fmt: skip
        return ManagedProcess(self.name, argv, self.log_path, cwd=self.data_dir)

    def check_ready(self) -> bool:
        """A real PING over RESP, answered with PONG."""
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
