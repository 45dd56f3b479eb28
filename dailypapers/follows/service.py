"""Adding, listing and removing follows (service: takes a session, never commits).

Each kind keeps a normalized ``target``, the key the matcher compares, so two spellings of one
thing are one follow:

- ``author``: ``authors.names.author_key`` of the name ("PÉREZ, José-Luis" = "Jose Luis Perez");
- ``org``: the organization's stored name (``orgs.Org.name``: lower case, or ``name@hf`` when
  imported from Hugging Face); it must exist;
- ``category``: an arXiv category as arXiv spells it (``cs.CL``), or an archive (``cs``: any
  of its categories);
- ``search``: a ``/search`` query on one line, filters included; it must select papers (a word
  or a filter).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Literal, cast, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.alerts import CHANNELS, Channel
from dailypapers.alerts.cursor import start_cursor
from dailypapers.authors.names import author_key
from dailypapers.hf_names import candidates
from dailypapers.mail.render import one_line
from dailypapers.models import Follow, Org
from dailypapers.search.lexical import MAX_QUERY_CHARS, searchable
from dailypapers.search.query import QueryError, normalize_category

FollowKind = Literal["author", "org", "category", "search"]
KINDS: tuple[FollowKind, ...] = get_args(FollowKind)
DEFAULT_CHANNELS: tuple[Channel, ...] = ("email", "feed")
# A person follows tens of things; the cap bounds the matcher's work per user and a script's.
MAX_FOLLOWS_PER_USER = 500
MAX_TARGET_CHARS = 300
MAX_LABEL_CHARS = 200
# Ids are 32-bit on PostgreSQL: a larger one names no follow (and would be a database error).
MAX_ID = 2**31 - 1


class FollowError(ValueError):
    """A follow that cannot be made, worded for the person who asked."""


def normalize_target(
    session: Session, kind: str, raw: str, label: str | None = None
) -> tuple[FollowKind, str, str]:
    """``(kind, target, label)`` checked and normalized; the label defaults to what people
    know the target by.

    :raises FollowError: an unknown kind, an empty or oversized target, an org not in the store,
        a category not shaped like one, a search that selects nothing.
    """
    if kind not in KINDS:
        raise FollowError("Follow an author, an org, a category or a search.")
    text = one_line(raw.replace("\x00", ""))
    if not text:
        raise FollowError("Say what to follow.")
    if len(text) > MAX_TARGET_CHARS:
        raise FollowError(f"Keep what you follow under {MAX_TARGET_CHARS} characters.")
    shown = one_line((label or "").replace("\x00", ""))[:MAX_LABEL_CHARS]
    if kind == "author":
        target = author_key(text)
        if not target:
            raise FollowError("An author's name needs letters.")
        return "author", target, shown or text
    if kind == "org":
        # Local names are lower case; one imported from Hugging Face is stored as "name@hf".
        names = dict.fromkeys([*candidates(text.lower()), *candidates(text)])
        org = session.scalars(select(Org).where(Org.name.in_(names)).order_by(Org.id)).first()
        if org is None:
            raise FollowError(f"No organization is named {text[:60]!r}.")
        return "org", org.name, shown or org.fullname or org.name
    if kind == "category":
        try:
            target = normalize_category(text)
        except QueryError as exc:
            raise FollowError(str(exc)) from None
        return "category", target, shown or target
    if len(text) > MAX_QUERY_CHARS:
        raise FollowError(f"Keep the search under {MAX_QUERY_CHARS} characters.")
    if not searchable(text):
        raise FollowError("The search needs a word to search for or a filter (author:, cat:, …).")
    return "search", text, shown or text


def clean_channels(channels: Collection[str] | None) -> list[Channel]:
    """The channels in their fixed order; ``None`` is the default (email and feed)."""
    if channels is None:
        return list(DEFAULT_CHANNELS)
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise FollowError(f"Unknown channel {sorted(unknown)[0][:20]!r}; use email, feed, webhook.")
    return [channel for channel in CHANNELS if channel in channels]


def follow(
    session: Session,
    user_id: int,
    kind: str,
    target: str,
    now: dt.datetime,
    *,
    label: str | None = None,
    channels: Collection[str] | None = None,
) -> tuple[Follow, bool]:
    """Follow something; ``(follow, created)``. Following it again returns the existing row
    unchanged (created False), so a double click is harmless.

    :raises FollowError: see :func:`normalize_target`, or the user is at the cap.
    """
    checked_kind, key, shown = normalize_target(session, kind, target, label)
    existing = session.scalar(
        select(Follow).where(
            Follow.user_id == user_id, Follow.kind == checked_kind, Follow.target == key
        )
    )
    if existing is not None:
        return existing, False
    chosen = clean_channels(channels)
    count = session.scalar(select(func.count()).where(Follow.user_id == user_id)) or 0
    if count >= MAX_FOLLOWS_PER_USER:
        raise FollowError(f"You follow {MAX_FOLLOWS_PER_USER} things already; unfollow some.")
    row = Follow(
        user_id=user_id,
        kind=checked_kind,
        target=key,
        label=shown,
        channels=list(chosen),
        created_at=now,
    )
    session.add(row)
    session.flush()
    start_cursor(session)
    return row, True


def unfollow(session: Session, user_id: int, follow_id: int) -> bool:
    """Remove one of the user's follows; False when it is not theirs (or gone)."""
    row = _own(session, user_id, follow_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def set_channels(
    session: Session, user_id: int, follow_id: int, channels: Collection[str]
) -> Follow | None:
    """Choose how a follow alerts; None when the follow is not the user's."""
    row = _own(session, user_id, follow_id)
    if row is None:
        return None
    row.channels = list(clean_channels(channels))
    return row


def _own(session: Session, user_id: int, follow_id: int) -> Follow | None:
    if not 0 < follow_id <= MAX_ID:
        return None
    row = session.get(Follow, follow_id)
    return row if row is not None and row.user_id == user_id else None


def list_follows(session: Session, user_id: int) -> Sequence[Follow]:
    """The user's follows, oldest first (rows with ``.id .kind .target .label .channels``)."""
    return session.scalars(
        select(Follow).where(Follow.user_id == user_id).order_by(Follow.created_at, Follow.id)
    ).all()


def followed_targets(session: Session, user_id: int | None) -> dict[tuple[str, str], int]:
    """``(kind, target) → follow id`` of the user's follows, for pages that show buttons."""
    if user_id is None:
        return {}
    rows = session.execute(
        select(Follow.kind, Follow.target, Follow.id).where(Follow.user_id == user_id)
    ).all()
    return {(kind, target): follow_id for kind, target, follow_id in rows}


def as_kind(kind: str) -> FollowKind:
    return cast(FollowKind, kind)
