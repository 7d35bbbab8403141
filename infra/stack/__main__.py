"""CLI: ``python -m infra.stack up|check``.

``up`` starts the stack, prints ``export NAME=value`` lines on stdout and runs
until Ctrl-C or SIGTERM. ``check`` verifies prerequisites and fetches the Kafka
jars, so a build can pre-fetch them. Progress and errors go to stderr.
If ``DATABASE_URL`` is set in the environment, Postgres is not started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from infra.stack.errors import StackError
from infra.stack.kafka_jars import find_java, resolve_kafka_jars
from infra.stack.local_stack import ALL_SERVICES, LocalStack, StackPorts
from infra.stack.processes import ensure_port_free
from infra.stack.tansu import tansu_binary


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "check"])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"), help="state and logs (default .data)")
    parser.add_argument("--no-simulators", action="store_true", help="do not start the provider simulators")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def _services(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(name for name in ALL_SERVICES if not (args.no_simulators and name == "simulators"))


def check(args: argparse.Namespace) -> None:
    _log(f"java: {find_java()}")
    try:
        _log(f"kafka jars: {resolve_kafka_jars()}")
    except StackError as error:
        _log(f"kafka jars unavailable ({error}); checking the tansu fallback")
        _log(f"tansu fallback broker: {tansu_binary()}")
    stack = LocalStack(args.data_dir, services=_services(args), database_url=os.environ.get("DATABASE_URL"))
    for service in stack.services.values():
        for port, label in service.ports().items():
            ensure_port_free(port, label)
    _log("ports free: " + ", ".join(stack.services))


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def up(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    stack = LocalStack(
        args.data_dir, StackPorts(), services=_services(args), database_url=os.environ.get("DATABASE_URL")
    )
    started = time.monotonic()
    try:
        endpoints = stack.start()
        names = ", ".join(stack.services)
        _log(f"up in {time.monotonic() - started:.1f} s: {names}; logs in {args.data_dir}/logs")
        for name, value in endpoints.as_env().items():
            print(f"export {name}={value}", flush=True)
        _log("running; Ctrl-C to stop")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _log("stopping")
    finally:
        stack.stop()
        _log("stopped")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.command == "check":
            check(args)
        else:
            up(args)
    except StackError as error:
        _log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
