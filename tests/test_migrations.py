"""Alembic migrations on a real SQLite file and a real PostgreSQL database: upgrade, downgrade,
and no drift from the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine
from dailypapers.migrate import include_object
from dailypapers.models import Base

pytestmark = pytest.mark.both_backends


def _lexical_index_exists(engine: Engine) -> bool:
    """FTS5's table on SQLite, the stored tsvector column on PostgreSQL."""
    inspector = inspect(engine)
    if engine.dialect.name == "sqlite":
        return "papers_fts" in inspector.get_table_names()
    columns = {column["name"] for column in inspector.get_columns("papers")}
    indexes = {index["name"] for index in inspector.get_indexes("papers")}
    return "search_document" in columns and "ix_papers_search_document" in indexes


def test_upgrade_creates_core_tables_and_lexical_index(engine: Engine) -> None:
    assert _lexical_index_exists(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "papers",
        "authors",
        "paper_authors",
        "paper_versions",
        "daily_entries",
        "users",
        "orgs",
        "org_members",
        "votes",
    } <= tables


def test_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_repeatable_and_downgrade_removes_everything(settings: Settings) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate.upgrade(engine)
    assert _lexical_index_exists(engine)
    engine.dispose()


@pytest.mark.sqlite_only
def test_sqlite_pragmas_are_set(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000


@pytest.mark.sqlite_only  # PostgreSQL's document is a generated column: nothing to follow
def test_lexical_index_follows_updates_and_deletes(engine: Engine) -> None:
    insert = text(
        "INSERT INTO papers (arxiv_id, title, abstract, author_names, authors_text, categories,"
        " content_hash, external_upvotes, local_upvotes, created_at, modified_at)"
        " VALUES ('2602.00001', 'Quantum networks', 'About networking.', '[\"Ada Lovelace\"]',"
        " 'Ada Lovelace', '[]', 'h', 0, 0, '2026-02-01 00:00:00', '2026-02-01 00:00:00')"
    )
    match = text("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH :q")
    with engine.begin() as connection:
        connection.execute(insert)
        assert connection.execute(match, {"q": "network"}).scalar() == 1  # porter stemming
        assert connection.execute(match, {"q": "authors_text:lovelace"}).scalar() == 1
        connection.execute(text("UPDATE papers SET title = 'Classical seals'"))
        assert connection.execute(match, {"q": "title:networks"}).scalar() == 0
        assert connection.execute(match, {"q": "seals"}).scalar() == 1
        connection.execute(text("DELETE FROM papers"))
        assert connection.execute(match, {"q": "seals"}).scalar() == 0
