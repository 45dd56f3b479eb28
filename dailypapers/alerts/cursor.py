"""Where the alert pipeline's "new papers" begin (see ``pipeline``)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from dailypapers.bulk import insert_rows
from dailypapers.models import AlertCursor, Paper

CURSOR = "papers"


def start_cursor(session: Session) -> None:
    """Begin at the newest stored paper, once (called when a follow is made)."""
    newest = session.scalar(select(func.max(Paper.id))) or 0
    insert_rows(
        session.connection(),
        cast(Table, AlertCursor.__table__),
        [{"name": CURSOR, "last_paper_id": newest}],
        suffix="ON CONFLICT DO NOTHING",
    )


def pending_papers(session: Session) -> bool:
    """Whether papers were stored past the cursor (the schedule's cheap check)."""
    cursor = session.get(AlertCursor, CURSOR)
    if cursor is None:
        return False
    newest = session.scalar(select(func.max(Paper.id))) or 0
    return newest > cursor.last_paper_id
