"""``db backup`` / ``db restore``: every table comes back row for row, a backup taken under
writes is one consistent snapshot, and a bad backup leaves the store as it was."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from dailypapers import migrate
from dailypapers.backup import head_revision, libpq_connection
from dailypapers.cli import main
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.models import (
    AlertCursor,
    AlertDelivery,
    AlertFeedToken,
    AlertMatch,
    ApiToken,
    AuthorClaim,
    Base,
    Collection,
    CollectionPaper,
    Comment,
    DigestReceived,
    DigestSend,
    DigestTopicMatch,
    Embedding,
    Follow,
    IngestCheckpoint,
    Job,
    LibraryImport,
    ModerationAction,
    Note,
    Org,
    OrgMember,
    Paper,
    PaperMark,
    PaperVersion,
    RateLimitCounter,
    Save,
    Subscription,
    UserSession,
    Vote,
    Webhook,
    WebhookDelivery,
)
from dailypapers.search.lexical import PG_TEXT_CONFIG
from dailypapers.search.pgvector_index import fill_embedding_column
from tests.factories import make_user
from tests.support.database import PostgresDatabases, make_settings

pytestmark = pytest.mark.both_backends

NOW = dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC)
WRITES_BEFORE_AND_AFTER = 20


def _fresh_settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    """An empty store of the same backend: no file, or a database with no tables."""
    folder = tmp_path / "fresh"
    if backend == "postgresql":
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        return make_settings(folder, database_url=databases.new())
    return make_settings(folder)


def _cli(settings: Settings, *args: str) -> Result:
    env = {"DAILYPAPERS_DATA_DIR": str(settings.data_dir)}
    env["DAILYPAPERS_DATABASE_URL"] = settings.database_url or ""
    return CliRunner(env=env).invoke(main, ["db", *args])


def _fill_every_table(settings: Settings) -> None:
    """The demo month (papers, authors, daily entries, orgs, submitters, jobs) plus one row
    of every kind the month does not bring."""
    moderator = make_user(settings, "backup-admin", role="admin")
    member = make_user(settings, "backup-member")
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        papers = session.scalars(select(Paper).order_by(Paper.id).limit(2)).all()
        org = session.scalars(select(Org).limit(1)).first()
        if org is None:
            org = Org(name="backup-lab", fullname="Backup Lab")
            session.add(org)
            session.flush()
        session.add(OrgMember(org_id=org.id, user_id=member, role="admin"))
        session.add(ApiToken(user_id=member, name="cli", token_hash="f" * 64))
        session.add(UserSession(id_hash="s" * 64, user_id=member, expires_at=NOW))
        session.add(Vote(user_id=member, paper_id=papers[0].id, created_at=NOW))
        parent = Comment(paper_id=papers[0].id, user_id=member, body="**nice**", body_html="<b>")
        session.add(parent)
        session.flush()
        session.add(
            Comment(
                paper_id=papers[0].id,
                user_id=moderator,
                parent_id=parent.id,
                body="ü",
                body_html="<p>ü</p>",
            )
        )
        session.add(
            ModerationAction(
                moderator_id=moderator, action="hide_comment", target_type="comment", target_id=1
            )
        )
        subscription = Subscription(
            email="Reader@Example.org",
            email_key="reader@example.org",
            cadence="weekly",
            topic_query="diffusion",
            paper_count=5,
            unsubscribe_token="u" * 32,
            confirmed_at=NOW,
        )
        session.add(subscription)
        session.flush()
        session.add(
            DigestSend(
                subscription_id=subscription.id,
                period_key="weekly:2026-W08",
                state="sent",
                paper_ids=[papers[0].id, papers[1].id],
                message_id="<a@b>",
            )
        )
        session.add(DigestReceived(subscription_id=subscription.id, paper_id=papers[1].id))
        session.add(DigestTopicMatch(period_key="weekly:2026-W08", topic_query="x", paper_ids=[1]))
        session.add(PaperVersion(paper_id=papers[1].id, version=3, submitted_at=NOW))
        session.add(RateLimitCounter(bucket="signin:ip:127.0.0.1", window_start=123, hits=4))
        session.add(IngestCheckpoint(source="oai:cs", cursor={"token": "abc|1001"}))
        session.add(Job(kind="send_digest", payload={"id": 1}, run_after=NOW, state="failed"))
        session.add(Save(user_id=member, paper_id=papers[0].id, saved_at=NOW))
        shelf = Collection(user_id=member, name="To read", description="ü", is_public=True)
        session.add(shelf)
        session.flush()
        session.add(CollectionPaper(collection_id=shelf.id, paper_id=papers[0].id, added_at=NOW))
        session.add(Note(user_id=member, paper_id=papers[0].id, body="*a*", body_html="<em>a</em>"))
        session.add(PaperMark(user_id=member, paper_id=papers[1].id, opened_at=NOW, read_at=NOW))
        session.add(
            LibraryImport(
                user_id=member,
                collection_id=shelf.id,
                filename="refs.bib",
                format="bibtex",
                state="done",
                total=1,
                processed=1,
                outcomes=[{"index": 1, "outcome": "matched"}],
            )
        )
        session.add(
            Follow(
                user_id=member, kind="category", target="cs.CL", label="cs.CL", channels=["feed"]
            )
        )
        session.add(
            AlertMatch(
                user_id=member, paper_id=papers[0].id, reasons=["in cs.CL"], channels=["feed"]
            )
        )
        session.add(AlertDelivery(user_id=member, paper_id=papers[0].id, channel="feed"))
        session.add(AlertFeedToken(user_id=member, token="t" * 43))
        session.add(AlertCursor(name="papers", last_paper_id=papers[1].id))
        hook = Webhook(
            user_id=member, url="https://hooks.example.org/in", secret="whsec_" + "s" * 40
        )
        session.add(hook)
        session.flush()
        session.add(
            WebhookDelivery(webhook_id=hook.id, delivery_id="d" * 36, event="test", status_code=200)
        )
        session.add(AuthorClaim(user_id=member, name_key="ada lovelace", message="me"))
        vector = np.linspace(-1, 1, 384, dtype=np.float32)
        for paper in papers:
            session.add(
                Embedding(
                    paper_id=paper.id,
                    model="all-MiniLM-L6-v2",
                    dim=384,
                    content_hash=paper.content_hash,
                    vector=vector.tobytes(),
                )
            )
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            fill_embedding_column(session.connection())
    engine.dispose()


def _snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the models, row by row in key order (a new table is included by itself),
    plus what the search indexes answer (they are not in the models)."""
    engine = make_engine(settings)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in connection.execute(query)]
        tables["alembic_version"] = [tuple(r) for r in connection.execute(text(_REVISION))]
        tables["(search)"] = [_search_hits(engine, connection)]
    engine.dispose()
    return tables


_REVISION = "SELECT version_num FROM alembic_version"


def _search_hits(engine: Engine, connection: Any) -> tuple[int, ...]:
    if engine.dialect.name == "sqlite":
        lexical = "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'model'"
        return (connection.execute(text(lexical)).scalar_one(),)
    lexical = (
        "SELECT count(*) FROM papers"
        f" WHERE search_document @@ websearch_to_tsquery('{PG_TEXT_CONFIG}', 'model')"
    )
    vectors = "SELECT count(*) FROM embeddings WHERE embedding IS NOT NULL"
    return (
        connection.execute(text(lexical)).scalar_one(),
        connection.execute(text(vectors)).scalar_one(),
    )


def test_a_restore_brings_back_every_table_row_for_row(
    demo_settings: Settings, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    _fill_every_table(demo_settings)
    before = _snapshot(demo_settings)
    empty = [name for name, rows in before.items() if not rows]
    assert not empty, f"fill these tables in _fill_every_table: {empty}"
    assert before["(search)"][0][0] > 0

    backup = tmp_path / "store.backup"
    made = _cli(demo_settings, "backup", str(backup))
    assert made.exit_code == 0, made.output
    assert f"schema {head_revision()}" in made.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # emails and password hashes
    fresh = _fresh_settings(tmp_path, backend, request)
    restored = _cli(fresh, "restore", str(backup))
    assert restored.exit_code == 0, restored.output

    after = _snapshot(fresh)
    for name, rows in before.items():
        assert after[name] == rows, f"table {name} differs after the restore"


def test_a_backup_taken_while_another_thread_writes_is_one_snapshot(
    settings: Settings, engine: Engine, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Each write puts a job and a counter with the same key in one transaction: a backup
    that saw half a transaction, or a moment that never existed, shows a key in one only."""
    factory = make_session_factory(engine)
    written = 0
    stop = threading.Event()
    enough = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        nonlocal written
        try:
            while not stop.is_set():
                with session_scope(factory, write=True) as session:
                    key = f"probe-{written}"
                    session.add(Job(kind="probe", dedupe_key=key, run_after=NOW))
                    session.add(RateLimitCounter(bucket=key, window_start=0, hits=1))
                written += 1
                if written >= WRITES_BEFORE_AND_AFTER:
                    enough.set()
        except BaseException as exc:  # surfaced below, in the test's thread
            failures.append(exc)
            enough.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert enough.wait(60)
        backup = tmp_path / "live.backup"
        made = _cli(settings, "backup", str(backup))
        at_backup = written
        deadline = at_backup + WRITES_BEFORE_AND_AFTER
        while written < deadline and not failures:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join(60)
    assert not failures, failures
    assert made.exit_code == 0, made.output

    fresh = _fresh_settings(tmp_path, backend, request)
    assert _cli(fresh, "restore", str(backup)).exit_code == 0
    check = make_engine(fresh)
    with Session(check) as session:
        jobs = set(session.scalars(select(Job.dedupe_key).where(Job.kind == "probe")))
        counters = set(session.scalars(select(RateLimitCounter.bucket)))
    check.dispose()
    assert jobs == counters
    assert WRITES_BEFORE_AND_AFTER <= len(jobs) < written  # writes before it, none after


@pytest.fixture
def filled(demo_settings: Settings) -> Settings:
    _fill_every_table(demo_settings)
    return demo_settings


def test_a_truncated_backup_is_refused_and_the_store_is_untouched(
    filled: Settings, tmp_path: Path
) -> None:
    backup = tmp_path / "store.backup"
    assert _cli(filled, "backup", str(backup)).exit_code == 0
    data = backup.read_bytes()
    backup.write_bytes(data[: len(data) // 2])
    before = _snapshot(filled)

    result = _cli(filled, "restore", "--force", str(backup))

    assert result.exit_code != 0
    assert "Error:" in result.output
    assert _snapshot(filled) == before


def test_a_missing_or_foreign_file_gives_a_clear_error(filled: Settings, tmp_path: Path) -> None:
    missing = _cli(filled, "restore", "--force", str(tmp_path / "nothing-here"))
    assert missing.exit_code != 0
    assert "no backup file at" in missing.output
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a backup")
    result = _cli(filled, "restore", "--force", str(foreign))
    assert result.exit_code != 0
    assert "neither an SQLite backup nor a pg_dump" in result.output


def test_a_store_with_data_is_not_overwritten_without_force(
    filled: Settings, tmp_path: Path
) -> None:
    backup = tmp_path / "store.backup"
    assert _cli(filled, "backup", str(backup)).exit_code == 0
    refused = _cli(filled, "restore", str(backup))
    assert refused.exit_code != 0
    assert "--force" in refused.output
    assert _cli(filled, "backup", str(backup)).exit_code != 0  # nor an existing backup file
    forced = _cli(filled, "restore", "--force", str(backup))
    assert forced.exit_code == 0, forced.output


def test_an_older_backup_is_restored_and_upgraded(
    settings: Settings, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    old = make_engine(settings)
    migrate.upgrade(old, "0007")
    old.dispose()
    backup = tmp_path / "old.backup"
    assert _cli(settings, "backup", str(backup)).exit_code == 0

    fresh = _fresh_settings(tmp_path, backend, request)
    result = _cli(fresh, "restore", str(backup))

    assert result.exit_code == 0, result.output
    assert "upgraded from 0007" in result.output
    check = make_engine(fresh)
    with check.connect() as connection:
        assert connection.execute(text(_REVISION)).scalar_one() == head_revision()
    check.dispose()


@pytest.mark.sqlite_only
def test_a_backup_from_a_newer_schema_is_refused(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    backup = tmp_path / "newer.backup"
    assert _cli(settings, "backup", str(backup)).exit_code == 0
    with sqlite3.connect(backup) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()

    result = _cli(make_settings(tmp_path / "fresh"), "restore", str(backup))

    assert result.exit_code != 0
    assert "9999 is newer than this dailypapers knows" in result.output
    assert not (tmp_path / "fresh" / "dailypapers.sqlite3").exists()


def test_the_postgres_password_stays_off_the_command_line() -> None:
    conninfo, environment = libpq_connection(
        "postgresql+psycopg://reader:s3cret@db.example:5433/papers?sslmode=require"
    )
    assert "s3cret" not in conninfo
    assert conninfo == "postgresql://reader@db.example:5433/papers?sslmode=require"
    assert environment["PGPASSWORD"] == "s3cret"
