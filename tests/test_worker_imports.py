"""What a serving worker loads: nothing it never uses on its own account (memory per worker)."""

from __future__ import annotations

import subprocess
import sys


def test_serving_worker_skips_httpx_command_line_client() -> None:
    code = (
        "import sys, gateway.__main__, httpx, gateway.app\n"
        "print(sys.modules.get('httpx._main', 'absent') is None, 'rich' in sys.modules,"
        " 'pygments' in sys.modules, callable(httpx.AsyncClient))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False", "True"]
