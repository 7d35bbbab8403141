"""``LocalStack``: Postgres, Kafka, Redis and the provider simulators as child processes, no Docker."""

from __future__ import annotations

import atexit
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.stack.errors import StackError
from infra.stack.kafka import KafkaService
from infra.stack.postgres import DATABASE, SUPERUSER, PostgresService
from infra.stack.processes import HOST, pick_free_ports
from infra.stack.redis import RedisService
from infra.stack.service import Service
from infra.stack.simulators import PROVIDERS, SimulatorService

ALL_SERVICES = ("postgres", "kafka", "redis", "simulators")
_GROUPS = {"simulators": PROVIDERS}


@dataclass(frozen=True)
class StackPorts:
    postgres: int = 54329
    kafka: int = 9092
    kafka_controller: int = 9093
    openai: int = 9101
    anthropic: int = 9102
    google: int = 9103
    redis: int = 6379

    @classmethod
    def free(cls) -> StackPorts:
        """Ports the kernel reports free right now, so a test stack can run beside ``make run``."""
        return cls(*pick_free_ports(len(dataclasses.fields(cls))))


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    kafka_bootstrap_servers: str
    openai_base_url: str
    anthropic_base_url: str
    google_base_url: str
    redis_url: str = ""

    def as_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "OPENAI_BASE_URL": self.openai_base_url,
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "GOOGLE_BASE_URL": self.google_base_url,
            "REDIS_URL": self.redis_url,
        }


def expand_service_names(names: Sequence[str]) -> list[str]:
    """'simulators' stands for the three providers; unknown names are refused."""
    known = {"postgres", "kafka", "redis", "simulators", *PROVIDERS}
    expanded: list[str] = []
    for name in names:
        if name not in known:
            raise StackError(f"unknown service {name!r}; known services: {', '.join(sorted(known))}")
        for member in _GROUPS.get(name, (name,)):
            if member not in expanded:
                expanded.append(member)
    return expanded


class LocalStack:
    """Starts, health-checks and stops the services Switchyard needs.

    Data lives in ``data_dir`` (``postgres/``, ``kafka/``, ``logs/<service>.log``)
    and survives restarts. When ``database_url`` is given, Postgres is not
    started and that URL is reported instead. Endpoints of services that were
    not asked for are still reported (from ``ports``) but nothing listens there.
    Call ``start``/``start_service`` from a long-lived thread: the children get
    a parent-death signal when the spawning thread exits.
    """

    def __init__(
        self,
        data_dir: Path,
        ports: StackPorts = StackPorts(),
        services: Sequence[str] = ALL_SERVICES,
        database_url: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.ports = ports
        self.database_url = database_url
        logs = self.data_dir / "logs"
        available: dict[str, Service] = {
            "postgres": PostgresService(self.data_dir / "postgres", logs, ports.postgres),
            "kafka": KafkaService(self.data_dir / "kafka", logs, ports.kafka, ports.kafka_controller),
            "redis": RedisService(self.data_dir / "redis", logs, ports.redis),
            **{name: SimulatorService(name, logs, getattr(ports, name)) for name in PROVIDERS},
        }
        wanted = expand_service_names(services)
        if database_url is not None and "postgres" in wanted:
            wanted.remove("postgres")
        self._services = {name: available[name] for name in wanted}
        self._exit_hook_registered = False

    @property
    def endpoints(self) -> Endpoints:
        ports = self.ports
        return Endpoints(
            database_url=self.database_url or f"postgresql://{SUPERUSER}@{HOST}:{ports.postgres}/{DATABASE}",
            kafka_bootstrap_servers=f"{HOST}:{ports.kafka}",
            openai_base_url=f"http://{HOST}:{ports.openai}/v1",
            anthropic_base_url=f"http://{HOST}:{ports.anthropic}",
            google_base_url=f"http://{HOST}:{ports.google}",
            redis_url=f"redis://{HOST}:{ports.redis}/0",
        )

    @property
    def services(self) -> dict[str, Service]:
        return dict(self._services)

    def start(self) -> Endpoints:
        """Prepare everything, launch all processes at once, then wait for each health check."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pending = [service for service in self._services.values() if not service.running]
        try:
            for service in pending:  # fail fast, before any slow preparation
                service.check_ports()
            for service in pending:
                service.prepare()
            self._register_exit_hook()
            for service in pending:
                service.launch()
            for service in pending:
                service.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        """Stop every service, last started first. Safe to call any number of times."""
        for service in reversed(self._services.values()):
            service.stop()
        if self._exit_hook_registered:
            atexit.unregister(self.stop)
            self._exit_hook_registered = False

    def stop_service(self, name: str) -> None:
        """Graceful stop (its stop signal, then wait); data is kept."""
        for service in self._select(name):
            service.stop()

    def start_service(self, name: str) -> None:
        """(Re)start on the same ports with the same data, and wait until healthy."""
        selected = self._select(name)
        for service in selected:
            service.prepare()
        self._register_exit_hook()
        for service in selected:
            service.launch()
        for service in selected:
            service.wait_ready()

    def kill_service(self, name: str) -> None:
        """SIGKILL, as in a crash."""
        for service in self._select(name):
            service.kill()

    def _select(self, name: str) -> list[Service]:
        names = expand_service_names([name])
        missing = [member for member in names if member not in self._services]
        if missing:
            have = ", ".join(self._services)
            raise StackError(f"service {name!r} is not part of this stack (it has: {have})")
        return [self._services[member] for member in names]

    def _register_exit_hook(self) -> None:
        if not self._exit_hook_registered:
            atexit.register(self.stop)
            self._exit_hook_registered = True

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
