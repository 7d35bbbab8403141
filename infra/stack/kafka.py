"""Apache Kafka as a single KRaft node (broker and controller in one JVM).

The broker runs from the jars Maven resolved (see kafka_jars). Its generated
``server.properties``, ``log4j2.xml``, the cluster id and the log segments all
live in ``<data_dir>/kafka``, so topics and messages survive restarts.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from infra.stack.errors import StackError
from infra.stack.kafka_jars import find_java, resolve_kafka_jars
from infra.stack.processes import HOST, ManagedProcess, port_accepts, run_async
from infra.stack.service import Service
from infra.stack.tansu import tansu_argv, tansu_binary

# Small heap for a 2-core box. C1 only (TieredStopAtLevel=1): roughly halves start-up CPU
# when cores are contended, at some cost in peak throughput we do not need locally.
JVM_OPTIONS = [
    "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=128m",
    "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
]  # fmt: skip

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="stdout"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="warn"/>
  </Loggers>
</Configuration>
"""


def server_properties(log_dir: Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def new_cluster_id() -> str:
    """Same format as ``kafka-storage random-uuid``: 16 random bytes, base64url, no padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaService(Service):
    name = "kafka"
    stop_timeout = 30.0

    def __init__(self, home: Path, logs_dir: Path, port: int, controller_port: int) -> None:
        super().__init__(logs_dir)
        self.home = home
        self.port = port
        self.controller_port = controller_port
        self.java: str | None = None
        self.libs: Path | None = None
        self.fallback_binary: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "data"

    @property
    def uses_fallback(self) -> bool:
        return self.fallback_binary is not None

    def ports(self) -> dict[int, str]:
        if self.uses_fallback:
            return {self.port: "kafka (tansu fallback)"}
        return {self.port: "kafka", self.controller_port: "kafka controller"}

    def prepare(self) -> None:
        if self.java is None and self.fallback_binary is None:
            self.java = find_java()
            try:
                self.libs = resolve_kafka_jars()
            except StackError as error:
                self.fallback_binary = tansu_binary()
                warn_fallback(str(error))
        if not self.uses_fallback:
            self._write_config()
            self._format_storage()

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "server.properties").write_text(
            server_properties(self.log_dir, self.port, self.controller_port)
        )
        (self.home / "log4j2.xml").write_text(LOG4J2_XML)

    def _java_argv(self, main_class: str, *args: str) -> list[str]:
        assert self.java is not None and self.libs is not None
        return [
            self.java, *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
            "-cp", f"{self.libs}/*", main_class, *args,
        ]  # fmt: skip

    def _format_storage(self) -> None:
        """Format the KRaft log directory once; the cluster id is kept beside it."""
        if (self.log_dir / "meta.properties").exists():
            return
        id_file = self.home / "cluster-id"
        if not id_file.exists():
            id_file.write_text(new_cluster_id() + "\n")
        argv = self._java_argv(
            "kafka.tools.StorageTool", "format",
            "-t", id_file.read_text().strip(), "-c", str(self.home / "server.properties"),
        )  # fmt: skip
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise StackError(
                f"formatting the Kafka storage failed (exit {result.returncode}); see {self.log_path}"
            )

    def process(self) -> ManagedProcess:
        if self.fallback_binary is not None:
            argv = tansu_argv(self.fallback_binary, self.port)
        else:
            argv = self._java_argv("kafka.Kafka", str(self.home / "server.properties"))
        return ManagedProcess(self.name, argv, self.log_path, stop_signal=self.stop_signal)

    def check_ready(self) -> bool:
        if not port_accepts(self.port):
            return False
        try:
            return run_async(broker_answers(self.bootstrap_servers))
        except (KafkaError, OSError):
            return False


async def broker_answers(bootstrap_servers: str) -> bool:
    """A real metadata round trip: the cluster must report at least one broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    finally:
        await admin.close()


def warn_fallback(reason: str) -> None:
    banner = "!" * 78
    print(
        f"{banner}\n!! Apache Kafka jars unavailable; FALLING BACK to the tansu broker (memory only,\n"
        f"!! data is lost on restart). Reason:\n{reason}\n{banner}",
        file=sys.stderr,
        flush=True,
    )
