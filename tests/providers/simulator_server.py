"""Run a provider simulator app with uvicorn in a background thread on an OS-assigned port."""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

SIM_MODULES = {"openai": "openai_sim", "anthropic": "anthropic_sim", "google": "gemini_sim"}


@contextmanager
def running_simulator(provider: str) -> Iterator[str]:
    """Yields the simulator's root URL (``http://127.0.0.1:PORT``)."""
    module = importlib.import_module(f"infra.simulators.{SIM_MODULES[provider]}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(module.create_app(), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(root + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError(f"{provider} simulator did not start")
    try:
        yield root
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
