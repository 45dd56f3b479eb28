"""Email alerts in digests: the "From your follows" section and the alerts-only mail (service).

A user's undelivered email alerts (docs/follows.md) ride on the first of their digests to be
frozen: the send job claims them (``alerts.pipeline.claim_many``, the email channel's claim)
in the same transaction that freezes the digest's papers, so a paper is mailed once however
many follows it matches and however many digests the user has. A paper already in that
digest's list is left out of the section (still claimed: it was mailed).

A user with email alerts and no active digest of their own gets an ``alerts`` subscription
(to the account's verified address, created confirmed: the account's verification is the
opt-in) claimed on the daily schedule only on days it has something to carry. Unsubscribing
from it is final; alerts then reach that user's next digest, if they subscribe to one.

A digest is a user's when it was made signed in (``user_id``) or goes to the account's
verified address (the rule of ``library.marks``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dailypapers.alerts import AlertItem
from dailypapers.alerts.pipeline import claim_many, undelivered
from dailypapers.digests.compose import KIND_ALERTS
from dailypapers.follows.matching import match_papers
from dailypapers.models import AlertDelivery, AlertMatch, Subscription, User


def owners(session: Session, subscriptions: Sequence[Subscription]) -> dict[int, int]:
    """subscription id → the user whose digest it is (made signed in, or to the account's
    verified address); subscriptions of nobody are left out."""
    found = {s.id: s.user_id for s in subscriptions if s.user_id is not None}
    keys = {s.email_key for s in subscriptions if s.user_id is None}
    if keys:
        by_key: dict[str, int] = dict(
            session.execute(
                select(func.lower(User.email), User.id).where(
                    func.lower(User.email).in_(keys), User.email_verified_at.is_not(None)
                )
            ).all()
        )
        for s in subscriptions:
            if s.user_id is None and s.email_key in by_key:
                found[s.id] = by_key[s.email_key]
    return found


def current_items(
    session: Session, items: Mapping[int, list[AlertItem]]
) -> dict[int, list[AlertItem]]:
    """The items whose paper still matches a follow with the email channel, with today's
    reasons (a follow switched off email, or removed, since the match mails nothing)."""
    papers = {item.paper_id for user_items in items.values() for item in user_items}
    now = match_papers(session, papers)
    out: dict[int, list[AlertItem]] = {}
    for user_id, user_items in items.items():
        mine = now.get(user_id, {})
        kept = [
            AlertItem(item.paper_id, tuple(mine[item.paper_id].reasons))
            for item in user_items
            if item.paper_id in mine and "email" in mine[item.paper_id].channels
        ]
        out[user_id] = kept
    return out


def take_sections(
    session: Session,
    subscriptions: Sequence[Subscription],
    main_lists: Mapping[int, Collection[int]],
    now: dt.datetime,
) -> dict[int, list[AlertItem]]:
    """Claim the email alerts of these digests' owners; subscription id → its section (the
    items not already in its main list). Each user's alerts go to the first of their
    subscriptions here (by id); call it in the transaction that freezes the digests."""
    owner_of = owners(session, subscriptions)
    pending = undelivered(session, set(owner_of.values()), "email")
    if not pending:
        return {}
    stale = current_items(session, pending)
    carrier: dict[int, int] = {}
    carried: set[int] = set()
    for subscription in sorted(subscriptions, key=lambda s: s.id):
        user = owner_of.get(subscription.id)
        if user is not None and user not in carried and pending.get(user):
            carrier[subscription.id] = user
            carried.add(user)
    # Every undelivered item is claimed, those no longer wanted by mail too: the email
    # channel is done with them either way.
    taken = claim_many(
        session,
        {user: [item.paper_id for item in pending[user]] for user in carrier.values()},
        "email",
        now,
    )
    sections: dict[int, list[AlertItem]] = {}
    for subscription_id, user in carrier.items():
        got = set(taken.get(user, ()))
        listed = set(main_lists.get(subscription_id, ()))
        sections[subscription_id] = [
            item
            for item in stale.get(user, [])
            if item.paper_id in got and item.paper_id not in listed
        ]
    return sections


def users_with_email_alerts(session: Session) -> set[int]:
    """Users with an undelivered match that asked for email (the cheap pre-check of the
    schedule: one query over the matches not yet mailed)."""
    mailed = (
        select(AlertDelivery.paper_id)
        .where(
            AlertDelivery.user_id == AlertMatch.user_id,
            AlertDelivery.paper_id == AlertMatch.paper_id,
            AlertDelivery.channel == "email",
        )
        .exists()
    )
    rows = session.execute(select(AlertMatch.user_id, AlertMatch.channels).where(~mailed))
    return {user_id for user_id, channels in rows if "email" in channels}


def ensure_alert_subscriptions(
    session: Session, users: Collection[int], active: ColumnElement[bool], now: dt.datetime
) -> set[int]:
    """For each of ``users`` with no active digest of their own (``active``: the SQL clause
    of an active subscription), the id of their alerts-only subscription, made (confirmed, to
    the verified address) when missing; an unsubscribed or bounced one is left as it is."""
    if not users:
        return set()
    accounts = session.execute(
        select(User.id, User.email).where(
            User.id.in_(list(users)),
            User.email_verified_at.is_not(None),
            User.banned_at.is_(None),
        )
    ).all()
    if not accounts:
        return set()
    keys = {email.lower(): user_id for user_id, email in accounts if email}
    digests = session.execute(
        select(Subscription.user_id, Subscription.email_key).where(
            Subscription.kind != KIND_ALERTS,
            active,
            (Subscription.user_id.in_(list(users))) | (Subscription.email_key.in_(list(keys))),
        )
    ).all()
    covered = {user_id for user_id, _ in digests if user_id is not None}
    covered |= {keys[key] for _, key in digests if key in keys}
    existing = {
        row.user_id: row
        for row in session.scalars(
            select(Subscription).where(
                Subscription.kind == KIND_ALERTS, Subscription.user_id.in_(list(users))
            )
        )
    }
    chosen: list[Subscription] = []
    for user_id, address in accounts:
        if user_id in covered or not address:
            continue
        row = existing.get(user_id)
        if row is None:
            row = Subscription(
                email=address,
                email_key=address.lower(),
                cadence="daily",
                topic_query="",
                kind=KIND_ALERTS,
                paper_count=1,
                unsubscribe_token=secrets.token_urlsafe(32),
                user_id=user_id,
                hard_failures=0,
                created_at=now,
                confirmed_at=now,
            )
            session.add(row)
        elif row.unsubscribed_at is not None or row.deactivated_at is not None:
            continue
        elif row.email_key != address.lower():  # the account's address changed
            row.email, row.email_key = address, address.lower()
        chosen.append(row)
    session.flush()  # once for all the new rows: their ids
    return {row.id for row in chosen}
