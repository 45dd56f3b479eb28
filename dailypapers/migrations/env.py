"""Alembic environment: the engine comes from the caller (``dailypapers.migrate``)."""

from __future__ import annotations

from alembic import context

from dailypapers.migrate import include_object
from dailypapers.models import Base


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
