"""Engine and session construction; SQLite tuned for one writer and many readers."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import UserDefinedType

from dailypapers.authors.names import author_key
from dailypapers.config import Settings


class PgVector(UserDefinedType[Any]):
    """pgvector's ``vector`` as reflection sees it (migration 0007's column, written and read
    through SQL in search/pgvector_index.py); known so inspecting the schema does not warn."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector"


ischema_names.setdefault("vector", PgVector)

# Milliseconds a writer waits for the SQLite lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def _json_dumps(value: Any) -> str:
    """orjson for JSON columns: much faster than the stdlib encoder on bulk loads, and keeps
    UTF-8 as is."""
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL is durable across application crashes; only an OS crash can lose the
    # last transactions, which every ingest and vote path tolerates by being idempotent.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # log10 in SQL (the trending score), whether or not this SQLite has its math functions.
    dbapi_connection.create_function("log10", 1, math.log10, deterministic=True)
    # The author key in SQL, so the bulk arXiv upsert fills authors.name_key inside SQLite.
    dbapi_connection.create_function("author_key", 1, author_key, deterministic=True)


def make_engine(settings: Settings, url: str | None = None) -> Engine:
    """Create the engine for ``url`` (default: the settings' database URL)."""
    url_obj = make_url(url or settings.resolved_database_url)
    if url_obj.get_backend_name() == "sqlite":
        if url_obj.database and url_obj.database != ":memory:":
            Path(url_obj.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url_obj,
            connect_args={"check_same_thread": False},
            json_serializer=_json_dumps,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url_obj,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error. The boundary owns the commit.

    ``write``: the transaction will write after reading. On SQLite it then takes the write lock
    first (``BEGIN IMMEDIATE``), so concurrent writers wait their turn (``busy_timeout``)
    instead of failing with "database is locked" when a read snapshot turns into a write."""
    session = factory()
    try:
        with _committed(session, write=write):
            yield session
    finally:
        session.close()


@contextmanager
def _committed(session: Session, *, write: bool) -> Iterator[None]:
    """Commit the block's work, or roll it back on any error (``write``: see ``begin_write``)."""
    try:
        if write:
            begin_write(session)
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def is_sqlite(bind: Session | Connection | Engine) -> bool:
    """Whether ``bind`` talks to SQLite: the one question of backend the rest of the code asks
    (here, so the dialect is looked at in one module)."""
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name == "sqlite"
    return bind.dialect.name == "sqlite"


def upsert_insert(session: Session) -> Any:
    """The dialect's own ``insert`` (``pg_insert`` or ``sqlite_insert``), whose statements
    have ``on_conflict_do_update`` / ``on_conflict_do_nothing`` with the same arguments."""
    return sqlite_insert if is_sqlite(session) else pg_insert


def rows_changed(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE run through ``Session.execute`` changed
    (its result is a cursor result; the session's signature does not say so)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def begin_write(session: Session) -> None:
    """End the session's transaction (whatever it read stays loaded) and start a writing one:
    on SQLite ``BEGIN IMMEDIATE`` takes the write lock now, waiting its turn (``busy_timeout``),
    instead of failing with "database is locked" when a read snapshot later tries to write.
    Elsewhere row locks do this job and it only starts a new transaction.

    Call it in the same thread as the writes that follow (in a request: in the endpoint, not
    in a dependency), so the lock is never held while waiting for a worker thread."""
    session.commit()
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# One lock per SQLite engine: writers of one process queue on it in order instead of polling
# SQLite's lock with growing sleeps (busy_timeout), which gave votes a long tail under
# concurrent clients (docs/benchmarks.md). Other processes still meet at SQLite's own lock.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def _writer_lock(session: Session) -> threading.Lock | None:
    engine = session.get_bind()
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(engine, threading.Lock())


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run a block as one write transaction, committed at its end (rolled back on error).

    On SQLite, writers of this process take turns on an in-process lock first, then on
    SQLite's (``begin_write``)."""
    lock = _writer_lock(session)
    if lock is not None:
        lock.acquire()
    try:
        with _committed(session, write=True):
            yield session
    finally:
        if lock is not None:
            lock.release()


# Bulk loads on SQLite (docs/benchmarks.md): a larger page cache and checkpointing the WAL
# less often cut a snapshot load.
# Per connection, so web processes keep SQLite's defaults.
SQLITE_BULK_PRAGMAS = ("PRAGMA cache_size=-98304", "PRAGMA wal_autocheckpoint=20000")
SQLITE_DEFAULT_PRAGMAS = ("PRAGMA cache_size=-2000", "PRAGMA wal_autocheckpoint=1000")


def tune_for_bulk_load(session: Session, *, enabled: bool = True) -> None:
    """Set (or reset) the bulk-load pragmas on the session's SQLite connection; no-op elsewhere."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    for pragma in SQLITE_BULK_PRAGMAS if enabled else SQLITE_DEFAULT_PRAGMAS:
        connection.exec_driver_sql(pragma)
