"""Runs a simulator app on a real uvicorn server (ephemeral port, background thread) for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import uvicorn
from starlette.applications import Starlette

from infra.simulators.common import SimState

HTTP = httpx.Client(timeout=30)
"""One shared client: building an httpx client (TLS context) costs ~0.15 s, too much per call."""


@dataclass
class RunningSimulator:
    base_url: str
    app: Starlette

    @property
    def state(self) -> SimState:
        return self.app.state.sim

    def stats(self) -> dict[str, Any]:
        return HTTP.get(f"{self.base_url}/_sim/stats").json()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0) -> dict[str, Any]:
        """Polls /_sim/stats until `predicate` holds (server-side bookkeeping is asynchronous)."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while not predicate(stats) and time.monotonic() < deadline:
            time.sleep(0.02)
            stats = self.stats()
        return stats


@contextmanager
def serve(app: Starlette) -> Iterator[RunningSimulator]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield RunningSimulator(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=5)
        sock.close()


def assert_no_extra(value: Any, path: str = "$") -> None:
    """Fails when a parsed SDK model carries fields its type does not declare (wire drift)."""
    if isinstance(value, pydantic.BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"undeclared fields at {path}: {sorted(extra)}"
        for name in type(value).model_fields:
            assert_no_extra(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            assert_no_extra(item, f"{path}[{index}]")


def sse_frames(raw: bytes, separator: bytes = b"\n\n") -> list[bytes]:
    """Splits a whole SSE body into frames; every frame must end with `separator`."""
    assert raw.endswith(separator), raw[-40:]
    return raw[: -len(separator)].split(separator)
