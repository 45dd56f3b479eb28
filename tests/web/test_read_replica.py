"""READ_DATABASE_URL against a real streaming replica (pg_basebackup of the test server):
pages and API reads come from the replica, and a client that has just voted reads the
primary until the replica has caught up."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from dailypapers.postgres_local import LocalPostgres
from dailypapers.web.app import create_app
from dailypapers.web.deps import PRIMARY_COOKIE
from tests.factories import make_user
from tests.support.database import PostgresDatabases, make_settings
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

PAPER = "2602.08222"  # the top paper of 2026-02-10 in the demo month


@pytest.fixture(scope="module")
def replica(postgres_server: LocalPostgres) -> Iterator[LocalPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="dailypapers-test-replica-"))  # see postgres_server
    server = LocalPostgres(folder / "data", replica_of=postgres_server)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _replay(replica: LocalPostgres, action: str) -> None:
    with psycopg.connect(replica.dsn(), autocommit=True) as connection:
        connection.execute(f"SELECT pg_wal_replay_{action}()")  # type: ignore[arg-type]


@pytest.fixture
def replicated_settings(
    tmp_path: Path,
    backend: str,
    replica: LocalPostgres,
    postgres_server: LocalPostgres,
    postgres_databases: PostgresDatabases,
    demo_postgres_template: str,
) -> Iterator[Settings]:
    assert backend == "postgresql"
    url = postgres_databases.new(template=demo_postgres_template)
    name = url.rsplit("/", 1)[1]
    replica.wait_for_replay(postgres_server)
    yield make_settings(tmp_path, database_url=url, read_database_url=replica.url(name))
    _replay(replica, "resume")


def _count(client: TestClient) -> int:
    items = client.get("/api/daily_papers", params={"date": "2026-02-10"}).json()
    return next(i["paper"]["upvotes"] for i in items if i["paper"]["id"] == PAPER)


def test_reads_come_from_the_replica_and_a_voter_reads_its_own_vote(
    replicated_settings: Settings, replica: LocalPostgres, postgres_server: LocalPostgres
) -> None:
    make_user(replicated_settings, "ada")
    replica.wait_for_replay(postgres_server)
    app = create_app(replicated_settings)
    with TestClient(app) as voter, TestClient(app) as reader:
        sign_in(voter, "ada")
        voter.cookies.delete(PRIMARY_COOKIE)  # signing in wrote; start from a plain reader
        before = _count(reader)
        assert _count(voter) == before
        # The replica stops replaying: what it serves is frozen from here on.
        _replay(replica, "pause")
        answer = form(voter, f"/papers/{PAPER}/upvote", {"action": "up"})
        assert answer.status_code < 400
        assert PRIMARY_COOKIE in voter.cookies
        # The voter sees its vote (read from the primary) on the API and on the page...
        assert _count(voter) == before + 1
        assert "Upvoted" in voter.get(f"/papers/{PAPER}").text
        # ...while everyone else still reads the paused replica: the reads really go there.
        assert _count(reader) == before
        _replay(replica, "resume")
        replica.wait_for_replay(postgres_server)
        assert _count(reader) == before + 1


def test_without_a_replica_every_read_uses_the_primary(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as client:
        assert client.app.state.read_session_factory is None  # type: ignore[attr-defined]
        assert _count(client) > 0
