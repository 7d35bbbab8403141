"""`python -m infra.simulators {openai|anthropic|google} --port N [--host 127.0.0.1]`."""

from __future__ import annotations

import argparse
import importlib

import uvicorn

from .common import SimulatorConfig

MODULES = {
    "openai": "openai_sim",
    "anthropic": "anthropic_sim",
    "google": "gemini_sim",
    "gemini": "gemini_sim",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.simulators", description=__doc__)
    parser.add_argument("provider", choices=sorted(MODULES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"{__package__}.{MODULES[args.provider]}")
    app = module.create_app(SimulatorConfig.from_env())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
