"""A test's own database: its settings, PostgreSQL test databases, and reads of the raw index.

Tests marked ``both_backends`` run on a SQLite file and on a database of a real PostgreSQL
server (the fixtures in tests/conftest.py choose); these helpers work on either."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.postgres_local import LocalPostgres
from dailypapers.search.lexical import PG_TEXT_CONFIG

BACKENDS = ["sqlite", "postgresql"]
# The last day of the bundled demo month: "today" for every test unless it says otherwise.
DEMO_TODAY = dt.date(2026, 2, 27)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "today": DEMO_TODAY,
        "base_url": "http://testserver",
        # Tests of the job loop count the jobs they queue; digest tests turn this back on.
        "digest_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def database_env(settings: Settings) -> dict[str, str]:
    """Environment for a CLI subprocess to use the test's database (PostgreSQL runs)."""
    return {"DAILYPAPERS_DATABASE_URL": settings.database_url} if settings.database_url else {}


def db_session(settings: Settings) -> Session:
    """A session on the test's database (close it; the engine goes with the process)."""
    return make_session_factory(make_engine(settings))()


class PostgresDatabases:
    """Per-test databases on the session's server, dropped at the end of the test."""

    def __init__(self, server: LocalPostgres) -> None:
        self.server = server
        self.created: list[str] = []

    def new(self, template: str | None = None) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return self.server.create_database(name, template=template)

    def drop_all(self) -> None:
        for name in self.created:
            self.server.drop_database(name)


def lexical_match_ids(session: Session, word: str, *, prefix: bool = False) -> set[int]:
    """Ids of papers whose lexical index row holds ``word`` (or a word it begins), read from
    the backend's own index: FTS5 on SQLite, the stored tsvector on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        query = f"{word}:*" if prefix else word
        statement = text(
            "SELECT id FROM papers"
            " WHERE search_document @@ to_tsquery(CAST(:config AS regconfig), CAST(:q AS text))"
        ).bindparams(config=PG_TEXT_CONFIG, q=query)
    else:
        query = f"{word}*" if prefix else word
        statement = text("SELECT rowid FROM papers_fts WHERE papers_fts MATCH :q").bindparams(
            q=query
        )
    return {row[0] for row in session.execute(statement)}
