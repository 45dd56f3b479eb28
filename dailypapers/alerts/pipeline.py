"""The alert pipeline: match new papers against follows, record each user × paper match once
with every reason, and deliver it once per channel (docs/follows.md). Service: no commits.

- New papers are those stored after ``alert_cursor`` ("papers"). The cursor starts at the
  newest stored paper when the first follow is made, so following never alerts the back
  catalogue; a paper already stored that is put on the Daily Papers list later is not new.
- ``alert_matches`` (unique user × paper) merges the reasons of every follow a paper matches,
  however many runs find it.
- ``alert_deliveries`` (unique user × paper × channel) is each channel's claim: the feed's is
  taken when the match is recorded (the feed lists the match), the webhook's before
  ``webhooks.service.queue_alert`` queues a job per hook, the email's when a digest freezes
  its papers (``email_alerts``), in the same transaction as that delivery's own record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.orm import Session

from dailypapers.alerts import AlertItem, Channel
from dailypapers.alerts.cursor import CURSOR
from dailypapers.bulk import insert_rows
from dailypapers.follows.matching import UserMatch, match_papers
from dailypapers.models import AlertCursor, AlertDelivery, AlertMatch, Paper
from dailypapers.webhooks.service import queue_alert

# Papers matched per run; a bulk load is worked through by follow-up runs.
BATCH = 2000


@dataclass
class MatchStats:
    """What a run did."""

    papers: int = 0
    matches: int = 0
    webhook_items: int = 0
    more: bool = False


def run_matching(session: Session, now: dt.datetime, *, batch: int = BATCH) -> MatchStats:
    """Match the next batch of new papers; see the module docstring."""
    stats = MatchStats()
    cursor = session.get(AlertCursor, CURSOR, with_for_update=True)
    if cursor is None:
        return stats
    ids = list(
        session.scalars(
            select(Paper.id).where(Paper.id > cursor.last_paper_id).order_by(Paper.id).limit(batch)
        )
    )
    if not ids:
        return stats
    stats.papers = len(ids)
    stats.more = len(ids) == batch
    found = match_papers(session, ids)
    stats.matches = record_matches(session, found, now)
    for user_id, papers in found.items():
        feed = [paper_id for paper_id, match in papers.items() if "feed" in match.channels]
        claim(session, user_id, feed, "feed", now)
        hooked = [paper_id for paper_id, match in papers.items() if "webhook" in match.channels]
        taken = claim(session, user_id, hooked, "webhook", now)
        if taken:
            items = [AlertItem(paper_id, tuple(papers[paper_id].reasons)) for paper_id in taken]
            queue_alert(session, user_id, items)
            stats.webhook_items += len(items)
    cursor.last_paper_id = ids[-1]
    return stats


def record_matches(
    session: Session, found: Mapping[int, Mapping[int, UserMatch]], now: dt.datetime
) -> int:
    """Store each user × paper match once, merging reasons and channels into a stored one."""
    pairs = [(user_id, paper_id) for user_id, papers in found.items() for paper_id in papers]
    if not pairs:
        return 0
    stored = {
        (row.user_id, row.paper_id): row
        for row in session.scalars(
            select(AlertMatch).where(tuple_(AlertMatch.user_id, AlertMatch.paper_id).in_(pairs))
        )
    }
    for user_id, paper_id in pairs:
        match = found[user_id][paper_id]
        row = stored.get((user_id, paper_id))
        if row is None:
            session.add(
                AlertMatch(
                    user_id=user_id,
                    paper_id=paper_id,
                    reasons=list(dict.fromkeys(match.reasons)),
                    channels=sorted(match.channels),
                    matched_at=now,
                )
            )
        else:
            row.reasons = list(dict.fromkeys([*row.reasons, *match.reasons]))
            row.channels = sorted(set(row.channels) | match.channels)
    session.flush()
    return len(pairs)


def claim(
    session: Session, user_id: int, paper_ids: Collection[int], channel: Channel, now: dt.datetime
) -> list[int]:
    """Take the channel's delivery of these papers for the user; returns the ones not
    delivered before (in the given order): only those may be delivered."""
    return claim_many(session, {user_id: paper_ids}, channel, now).get(user_id, [])


def claim_many(
    session: Session,
    papers_by_user: Mapping[int, Collection[int]],
    channel: Channel,
    now: dt.datetime,
) -> dict[int, list[int]]:
    """:func:`claim` for many users in one statement. The rows this statement inserted are
    the claims taken (``RETURNING``): two senders claiming the same paper at once (two
    digest chunks of one user) cannot both get it."""
    rows = [
        {"user_id": user_id, "paper_id": paper_id, "channel": channel, "delivered_at": now}
        for user_id, paper_ids in papers_by_user.items()
        for paper_id in dict.fromkeys(paper_ids)
    ]
    if not rows:
        return {}
    taken = {
        (user_id, paper_id)
        for user_id, paper_id in insert_rows(
            session.connection(),
            cast(Table, AlertDelivery.__table__),
            rows,
            suffix="ON CONFLICT DO NOTHING",
            returning=("user_id", "paper_id"),
        )
    }
    return {
        user_id: [p for p in dict.fromkeys(paper_ids) if (user_id, p) in taken]
        for user_id, paper_ids in papers_by_user.items()
    }


def give_back(session: Session, user_id: int, paper_ids: Collection[int], channel: Channel) -> None:
    """Undo a claim whose delivery failed for good, so a later delivery may carry them."""
    if paper_ids:
        session.execute(
            delete(AlertDelivery).where(
                AlertDelivery.user_id == user_id,
                AlertDelivery.channel == channel,
                AlertDelivery.paper_id.in_(list(paper_ids)),
            )
        )


def undelivered(
    session: Session, user_ids: Iterable[int], channel: Channel
) -> dict[int, list[AlertItem]]:
    """Each user's matches for the channel that it has not delivered, oldest first."""
    users = list(user_ids)
    if not users:
        return {}
    delivered = (
        select(AlertDelivery.paper_id)
        .where(
            AlertDelivery.user_id == AlertMatch.user_id,
            AlertDelivery.paper_id == AlertMatch.paper_id,
            AlertDelivery.channel == channel,
        )
        .exists()
    )
    rows = session.execute(
        select(AlertMatch.user_id, AlertMatch.paper_id, AlertMatch.reasons, AlertMatch.channels)
        .join(Paper, Paper.id == AlertMatch.paper_id)
        .where(AlertMatch.user_id.in_(users), ~delivered, Paper.hidden_at.is_(None))
        .order_by(AlertMatch.matched_at, AlertMatch.paper_id)
    ).all()
    result: dict[int, list[AlertItem]] = {}
    for user_id, paper_id, reasons, channels in rows:
        if channel in channels:
            result.setdefault(user_id, []).append(AlertItem(paper_id, tuple(reasons)))
    return result
