"""What a list of paper cards needs to know of the person reading it, in a fixed number of
queries whatever the page or library size: votes, saves, reading marks, collapse settings,
and the visit clock behind "new since your last visit"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from dailypapers import community
from dailypapers.db import session_scope, write_transaction
from dailypapers.library import marks
from dailypapers.models import User


def viewer_context(session: Session, user: User | None, paper_ids: Sequence[int]) -> dict[str, Any]:
    """Template variables of ``_cards.html`` for these papers."""
    return {
        "signed_in": user is not None,
        "voted": community.voted_papers(session, user, paper_ids),
        "states": marks.states_for(session, user, paper_ids),
        "collapse_seen": user is not None and user.collapse_seen,
        "collapse_dismissed": user is not None and user.collapse_dismissed,
    }


def record_visit(request: Request, user: User | None) -> None:
    """Move the signed-in reader's visit clock (a throttled write on the primary: the page
    itself may read a replica)."""
    if user is None or marks.visit_update(user, dt.datetime.now(dt.UTC)) is None:
        return
    with session_scope(request.app.state.session_factory) as session:
        writer = session.get(User, user.id)
        if writer is None:
            return
        with write_transaction(session):
            marks.record_visit(session, writer, dt.datetime.now(dt.UTC))
    user.last_active_at, user.previous_visit_at = writer.last_active_at, writer.previous_visit_at


def record_opened(request: Request, user: User | None, paper_id: int, already: bool) -> None:
    """Remember that the reader opened the paper (once: later views write nothing)."""
    if user is None or already:
        return
    with session_scope(request.app.state.session_factory) as session:
        writer = session.get(User, user.id)
        if writer is None:
            return
        with write_transaction(session):
            marks.mark_opened(session, writer, paper_id, dt.datetime.now(dt.UTC))
