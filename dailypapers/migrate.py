"""Run Alembic migrations programmatically (no alembic.ini needed by users)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Tables made by raw SQL that Alembic must not compare with the models (FTS5 and its shadows).
UNMANAGED_TABLE_PREFIXES = ("papers_fts",)
# PostgreSQL's lexical (0006) and vector (0007) search columns and indexes, also made by raw SQL.
UNMANAGED_COLUMNS = ("search_document", "embedding")
UNMANAGED_INDEX_PREFIXES = ("ix_papers_search_document", "ix_embeddings_hnsw")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic filter: leave the search index tables, columns and indexes alone."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNMANAGED_TABLE_PREFIXES)
    if type_ == "column":
        return name not in UNMANAGED_COLUMNS
    if type_ == "index":
        return not name.startswith(UNMANAGED_INDEX_PREFIXES)
    return True


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision``; safe to run on every start."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    _schema_changed()


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    _schema_changed()


def _schema_changed() -> None:
    """Cached answers about the schema (is pgvector's column there?) are stale now."""
    from dailypapers.search.pgvector_index import forget_pgvector_probes

    forget_pgvector_probes()
