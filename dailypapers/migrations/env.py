"""Alembic environment: the engine comes from the caller (``dailypapers.migrate``)."""

from __future__ import annotations

from alembic import context

from dailypapers.models import Base

# Tables Alembic must not try to manage by comparison (FTS5 shadow tables, made by SQL).
UNMANAGED_TABLE_PREFIXES = ("papers_fts",)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name and name.startswith(UNMANAGED_TABLE_PREFIXES))


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
