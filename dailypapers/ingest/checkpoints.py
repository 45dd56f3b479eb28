"""Per-source resume points, written in the same transaction as the batch they follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dailypapers.models import IngestCheckpoint, utcnow


def load_checkpoint(session: Session, source: str) -> dict[str, Any] | None:
    cursor = session.scalar(
        select(IngestCheckpoint.cursor).where(IngestCheckpoint.source == source)
    )
    return dict(cursor) if cursor is not None else None


def save_checkpoint(session: Session, source: str, cursor: dict[str, Any]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(IngestCheckpoint).values(source=source, cursor=cursor, updated_at=utcnow())
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={"cursor": statement.excluded.cursor, "updated_at": statement.excluded.updated_at},
        )
    )


def clear_checkpoint(session: Session, source: str) -> None:
    session.execute(delete(IngestCheckpoint).where(IngestCheckpoint.source == source))
