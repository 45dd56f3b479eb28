"""Reading memory: what a user has opened, marked read or dismissed, and been sent.

"Opened" is written the first time the user's paper page or PDF link is followed from the site,
"read" and "dismissed" when the user says so. "Sent" is not stored twice: the digests already
record each paper a subscription was sent (``digest_received``), and a subscription made while
signed in names its account. A paper is *seen* when it was opened, read or sent.

The visit clock keeps "new since your last visit" cheap: a signed-in page view writes
``last_active_at`` at most once per ``ACTIVITY_PRECISION``, and a gap longer than ``VISIT_GAP``
starts a new visit, moving the old one's end to ``previous_visit_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.orm import Session

from dailypapers.db import upsert_insert
from dailypapers.models import DigestReceived, PaperMark, Save, Subscription, User

Mark = Literal["read", "dismissed"]
MARKS: tuple[Mark, ...] = ("read", "dismissed")
VISIT_GAP = dt.timedelta(hours=1)
ACTIVITY_PRECISION = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PaperState:
    """What one user has done with one paper, as the cards show it."""

    saved: bool = False
    opened: bool = False
    read: bool = False
    dismissed: bool = False
    sent: bool = False

    @property
    def seen(self) -> bool:
        return self.opened or self.read or self.sent


NO_STATE = PaperState()


def _users_subscriptions(user: User) -> Select[Any]:
    """Ids of the subscriptions that are this user's: made while signed in, or to the
    account's confirmed address."""
    mine = Subscription.user_id == user.id
    if user.email and user.email_verified_at is not None:
        mine = or_(mine, Subscription.email_key == user.email.lower())
    return select(Subscription.id).where(mine)


def states_for(
    session: Session, user: User | None, paper_ids: Sequence[int]
) -> dict[int, PaperState]:
    """Each paper's state for the user, in three queries whatever the page or library size.
    Papers the user has done nothing with are left out (``NO_STATE``)."""
    if user is None or not paper_ids:
        return {}
    ids = list(dict.fromkeys(paper_ids))
    saved = set(
        session.scalars(
            select(Save.paper_id).where(Save.user_id == user.id, Save.paper_id.in_(ids))
        )
    )
    marks = {
        row.paper_id: row
        for row in session.execute(
            select(
                PaperMark.paper_id, PaperMark.opened_at, PaperMark.read_at, PaperMark.dismissed_at
            ).where(PaperMark.user_id == user.id, PaperMark.paper_id.in_(ids))
        )
    }
    sent = set(
        session.scalars(
            select(DigestReceived.paper_id)
            .where(
                DigestReceived.subscription_id.in_(_users_subscriptions(user)),
                DigestReceived.paper_id.in_(ids),
            )
            .distinct()
        )
    )
    states: dict[int, PaperState] = {}
    for paper_id in saved | set(marks) | sent:
        mark = marks.get(paper_id)
        states[paper_id] = PaperState(
            saved=paper_id in saved,
            opened=mark is not None and mark.opened_at is not None,
            read=mark is not None and mark.read_at is not None,
            dismissed=mark is not None and mark.dismissed_at is not None,
            sent=paper_id in sent,
        )
    return states


def mark_opened(session: Session, user: User, paper_id: int, now: dt.datetime) -> None:
    """Record the first opening (later ones change nothing)."""
    statement = upsert_insert(session)(PaperMark).values(
        user_id=user.id, paper_id=paper_id, opened_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[PaperMark.user_id, PaperMark.paper_id],
            set_={"opened_at": now},
            where=PaperMark.opened_at.is_(None),
        )
    )


def was_opened(session: Session, user: User, paper_id: int) -> bool:
    return (
        session.scalar(
            select(PaperMark.opened_at).where(
                PaperMark.user_id == user.id, PaperMark.paper_id == paper_id
            )
        )
        is not None
    )


def set_mark(
    session: Session, user: User, paper_id: int, mark: Mark, *, on: bool, now: dt.datetime
) -> None:
    """Mark a paper read or dismissed ("not interested"), or take the mark back."""
    column = "read_at" if mark == "read" else "dismissed_at"
    if on:
        statement = upsert_insert(session)(PaperMark).values(
            user_id=user.id, paper_id=paper_id, **{column: now}
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[PaperMark.user_id, PaperMark.paper_id], set_={column: now}
            )
        )
        return
    session.execute(
        update(PaperMark)
        .where(PaperMark.user_id == user.id, PaperMark.paper_id == paper_id)
        .values({column: None})
    )
    session.execute(
        delete(PaperMark).where(
            PaperMark.user_id == user.id,
            PaperMark.paper_id == paper_id,
            PaperMark.opened_at.is_(None),
            PaperMark.read_at.is_(None),
            PaperMark.dismissed_at.is_(None),
        )
    )


def dismissed_by_subscription(
    session: Session, subscription_ids: Sequence[int]
) -> dict[int, set[int]]:
    """For each subscription made by an account, the papers its owner dismissed (digests
    leave them out)."""
    if not subscription_ids:
        return {}
    rows = session.execute(
        select(Subscription.id, PaperMark.paper_id)
        .join(PaperMark, PaperMark.user_id == Subscription.user_id)
        .where(Subscription.id.in_(subscription_ids), PaperMark.dismissed_at.is_not(None))
    )
    found: dict[int, set[int]] = {}
    for subscription_id, paper_id in rows:
        found.setdefault(subscription_id, set()).add(paper_id)
    return found


def states_by_subscription(
    session: Session, subscription_ids: Sequence[int], paper_ids: Sequence[int]
) -> dict[int, dict[int, PaperState]]:
    """For each subscription made by an account, its owner's states of these papers, in three
    queries for a whole batch of digests: a digest marks what its reader saved, opened, read or
    was mailed by another of their subscriptions (it never repeats its own)."""
    if not subscription_ids or not paper_ids:
        return {}
    ids, papers = list(subscription_ids), list(dict.fromkeys(paper_ids))
    owners = select(Subscription.id, Subscription.user_id).where(
        Subscription.id.in_(ids), Subscription.user_id.is_not(None)
    )
    owner_of = {
        subscription_id: user_id
        for subscription_id, user_id in session.execute(owners)
        if user_id is not None
    }
    if not owner_of:
        return {}
    users = set(owner_of.values())
    saved = {
        (user_id, paper_id)
        for user_id, paper_id in session.execute(
            select(Save.user_id, Save.paper_id).where(
                Save.user_id.in_(users), Save.paper_id.in_(papers)
            )
        )
    }
    mark_rows = session.execute(
        select(PaperMark.user_id, PaperMark.paper_id, PaperMark.opened_at, PaperMark.read_at).where(
            PaperMark.user_id.in_(users), PaperMark.paper_id.in_(papers)
        )
    )
    opened: set[tuple[int, int]] = set()
    read: set[tuple[int, int]] = set()
    for user_id, paper_id, opened_at, read_at in mark_rows:
        if opened_at is not None:
            opened.add((user_id, paper_id))
        if read_at is not None:
            read.add((user_id, paper_id))
    sent_by: dict[tuple[int, int], set[int]] = {}
    for owner, paper_id, by in session.execute(
        select(Subscription.user_id, DigestReceived.paper_id, DigestReceived.subscription_id)
        .join(DigestReceived, DigestReceived.subscription_id == Subscription.id)
        .where(Subscription.user_id.in_(users), DigestReceived.paper_id.in_(papers))
    ):
        if owner is not None:
            sent_by.setdefault((owner, paper_id), set()).add(by)
    found: dict[int, dict[int, PaperState]] = {}
    for subscription_id, user_id in owner_of.items():
        states = {}
        for paper_id in papers:
            key = (user_id, paper_id)
            # This digest's own papers are recorded as received before it is rendered.
            sent = bool(sent_by.get(key, set()) - {subscription_id})
            if key in saved or key in opened or key in read or sent:
                states[paper_id] = PaperState(
                    saved=key in saved, opened=key in opened, read=key in read, sent=sent
                )
        if states:
            found[subscription_id] = states
    return found


def visit_update(user: User, now: dt.datetime) -> dict[str, dt.datetime | None] | None:
    """The visit-clock columns to write for a page view now, or None when nothing changes."""
    last = user.last_active_at
    if last is not None and now - last < ACTIVITY_PRECISION:
        return None
    if last is not None and now - last > VISIT_GAP:
        return {"last_active_at": now, "previous_visit_at": last}
    return {"last_active_at": now}


def record_visit(session: Session, user: User, now: dt.datetime) -> bool:
    """Move the visit clock (see the module docstring); False when no write was needed."""
    values = visit_update(user, now)
    if values is None:
        return False
    session.execute(update(User).where(User.id == user.id).values(values))
    for name, value in values.items():
        setattr(user, name, value)
    return True
