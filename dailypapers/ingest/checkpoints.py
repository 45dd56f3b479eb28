"""Per-source resume points, written in the same transaction as the batch they follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dailypapers.db import upsert_insert
from dailypapers.models import IngestCheckpoint, utcnow


def load_checkpoint(session: Session, source: str) -> dict[str, Any] | None:
    cursor = session.scalar(
        select(IngestCheckpoint.cursor).where(IngestCheckpoint.source == source)
    )
    return dict(cursor) if cursor is not None else None


def save_checkpoint(session: Session, source: str, cursor: dict[str, Any]) -> None:
    insert = upsert_insert(session)
    statement = insert(IngestCheckpoint).values(source=source, cursor=cursor, updated_at=utcnow())
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={"cursor": statement.excluded.cursor, "updated_at": statement.excluded.updated_at},
        )
    )


def clear_checkpoint(session: Session, source: str) -> None:
    session.execute(delete(IngestCheckpoint).where(IngestCheckpoint.source == source))
