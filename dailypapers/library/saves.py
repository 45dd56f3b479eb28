"""Saving papers and private notes. Inserts are ``ON CONFLICT DO NOTHING``: a double click or
two tabs saving at once store one row, and the answer says whether this call added it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dailypapers.community import render_markdown
from dailypapers.db import rows_changed, upsert_insert
from dailypapers.library import LibraryError
from dailypapers.models import Collection, CollectionPaper, Note, Save, User

MAX_NOTE_CHARS = 20_000
MAX_SAVES = 50_000  # per user: far past any reading list, short of filling a disk


def save(session: Session, user: User, paper_id: int, now: dt.datetime) -> bool:
    """Put the paper in the user's library; False when it was there already."""
    if session.get(Save, (user.id, paper_id)) is not None:
        return False
    if _save_count(session, user) >= MAX_SAVES:
        raise LibraryError(f"A library holds at most {MAX_SAVES:,} papers; remove some first.")
    statement = (
        upsert_insert(session)(Save)
        .values(user_id=user.id, paper_id=paper_id, saved_at=now)
        .on_conflict_do_nothing()
        .returning(Save.paper_id)
    )
    return session.execute(statement).first() is not None


def save_many(session: Session, user: User, paper_ids: Sequence[int], now: dt.datetime) -> int:
    """Save several papers at once (an import); returns how many were new."""
    ids = list(dict.fromkeys(paper_ids))
    if not ids:
        return 0
    room = MAX_SAVES - _save_count(session, user)
    if len(ids) > room:
        raise LibraryError(f"A library holds at most {MAX_SAVES:,} papers; remove some first.")
    statement = (
        upsert_insert(session)(Save)
        .values([{"user_id": user.id, "paper_id": p, "saved_at": now} for p in ids])
        .on_conflict_do_nothing()
        .returning(Save.paper_id)
    )
    return len(session.execute(statement).all())


def unsave(session: Session, user: User, paper_id: int) -> bool:
    """Take the paper out of the library and out of the user's collections (its note stays:
    notes are deleted only on purpose). False when it was not saved."""
    mine = select(Collection.id).where(Collection.user_id == user.id)
    session.execute(
        delete(CollectionPaper).where(
            CollectionPaper.paper_id == paper_id, CollectionPaper.collection_id.in_(mine)
        )
    )
    result = session.execute(delete(Save).where(Save.user_id == user.id, Save.paper_id == paper_id))
    return bool(rows_changed(result))


def _save_count(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).where(Save.user_id == user.id)) or 0


def saved_papers(session: Session, user: User | None, paper_ids: Sequence[int]) -> set[int]:
    """Which of these papers the user has saved (one query for a whole page)."""
    if user is None or not paper_ids:
        return set()
    return set(
        session.scalars(
            select(Save.paper_id).where(Save.user_id == user.id, Save.paper_id.in_(paper_ids))
        )
    )


def note_of(session: Session, user: User | None, paper_id: int) -> Note | None:
    if user is None:
        return None
    return session.get(Note, (user.id, paper_id))


def set_note(
    session: Session, user: User, paper_id: int, body: str, now: dt.datetime
) -> Note | None:
    """Write (or, with an empty body, delete) the user's note on a paper, its Markdown
    sanitized as comments are. Writing a note saves the paper, so the library finds it again."""
    text = body.replace("\x00", "").strip()
    if not text:
        session.execute(delete(Note).where(Note.user_id == user.id, Note.paper_id == paper_id))
        return None
    if len(text) > MAX_NOTE_CHARS:
        raise LibraryError(f"Keep notes under {MAX_NOTE_CHARS:,} characters.")
    html = render_markdown(text)
    statement = upsert_insert(session)(Note).values(
        user_id=user.id,
        paper_id=paper_id,
        body=text,
        body_html=html,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Note.user_id, Note.paper_id],
            set_={"body": text, "body_html": html, "updated_at": now},
        )
    )
    save(session, user, paper_id, now)
    return session.get(Note, (user.id, paper_id), populate_existing=True)
