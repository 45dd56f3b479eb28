"""Authorship claims: a signed-in account asks to be an author (a key of authors/names.py), a
moderator approves or refuses, and each decision goes into the moderation log with who and
when. At most one approved claim per key. A service: takes a session, never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dailypapers.authors.pages import cached_key
from dailypapers.community import CommunityError, MissingTargetError
from dailypapers.models import AuthorClaim, ModerationAction, User

MAX_MESSAGE_CHARS = 2_000
DECISIONS = {"approve": "approved", "refuse": "refused"}


def approved_claim(session: Session, key: str) -> AuthorClaim | None:
    """The approved claim on ``key``, with its account."""
    return session.scalar(
        select(AuthorClaim)
        .options(joinedload(AuthorClaim.user))
        .where(AuthorClaim.name_key == key, AuthorClaim.status == "approved")
    )


def claims_of(session: Session, user: User, *, key: str | None = None) -> list[AuthorClaim]:
    """The user's claims, newest first (only on ``key`` when given)."""
    statement = select(AuthorClaim).where(AuthorClaim.user_id == user.id)
    if key is not None:
        statement = statement.where(AuthorClaim.name_key == key)
    return list(session.scalars(statement.order_by(AuthorClaim.created_at.desc())))


def request_claim(
    session: Session, user: User, key: str, message: str, now: dt.datetime
) -> AuthorClaim:
    """Ask to be the author under ``key``; refused when someone holds it or the user already
    waits for a decision on it."""
    text = message.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        raise CommunityError(f"Keep the message under {MAX_MESSAGE_CHARS:,} characters.")
    holder = approved_claim(session, key)
    if holder is not None:
        who = "you" if holder.user_id == user.id else f"@{holder.user.username}"
        raise CommunityError(f"This author is already claimed by {who}.")
    if any(claim.status == "pending" for claim in claims_of(session, user, key=key)):
        raise CommunityError("You already asked; a moderator will decide.")
    claim = AuthorClaim(user_id=user.id, name_key=key, message=text, created_at=now)
    session.add(claim)
    session.flush()
    return claim


def pending_claims(session: Session, limit: int = 200) -> list[AuthorClaim]:
    """Claims waiting for a moderator, oldest first."""
    return list(
        session.scalars(
            select(AuthorClaim)
            .options(joinedload(AuthorClaim.user))
            .where(AuthorClaim.status == "pending")
            .order_by(AuthorClaim.created_at)
            .limit(limit)
        )
    )


def decide(
    session: Session,
    moderator: User,
    claim_id: int,
    decision: str,
    reason: str,
    now: dt.datetime,
) -> AuthorClaim:
    """Approve or refuse a pending claim and log it (``approve_claim`` / ``refuse_claim`` on
    target ``author_claim``). Approving a key someone already holds is refused."""
    status = DECISIONS.get(decision)
    if status is None:
        raise CommunityError(f"Unknown decision {decision!r}: approve or refuse.")
    claim = session.get(AuthorClaim, claim_id)
    if claim is None:
        raise MissingTargetError(f"No authorship claim has id {claim_id}.")
    if claim.status != "pending":
        raise CommunityError(f"This claim was already {claim.status}.")
    if status == "approved" and approved_claim(session, claim.name_key) is not None:
        raise CommunityError("Another account already holds this author; refuse this claim.")
    claim.status, claim.decided_by, claim.decided_at = status, moderator.id, now
    note = " ".join(reason.split())
    slug = claim.name_key.replace(" ", "-")
    session.add(
        ModerationAction(
            moderator_id=moderator.id,
            action=f"{decision}_claim",
            target_type="author_claim",
            target_id=claim.id,
            reason=(note or f"/authors/{slug} for @{claim.user.username}")[:2000],
            created_at=now,
        )
    )
    session.flush()
    return claim


def claimed_users(session: Session, names: Iterable[str]) -> dict[str, User]:
    """The approved account of each of these printed names that has one (by name). One query
    to see whether any claim is approved at all, so lists on a site without claims compute no
    keys."""
    wanted = set(names)
    if (
        not wanted
        or session.scalar(select(AuthorClaim.id).where(AuthorClaim.status == "approved").limit(1))
        is None
    ):
        return {}
    by_key: dict[str, list[str]] = {}
    for name in wanted:
        by_key.setdefault(cached_key(name), []).append(name)
    found: dict[str, User] = {}
    keys: Sequence[str] = [key for key in by_key if key]
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(AuthorClaim.name_key, User)
            .join(User, User.id == AuthorClaim.user_id)
            .where(
                AuthorClaim.status == "approved",
                AuthorClaim.name_key.in_(keys[start : start + 500]),
            )
        ).all()
        for key, user in rows:
            for name in by_key[key]:
                found[name] = user
    return found
