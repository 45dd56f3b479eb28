"""Scheduling digests: when each cadence's period is due, and claiming its send rows.

``schedule_period`` claims one ``digest_sends`` row per active subscription of the cadence
(unique on subscription × period) and queues the send jobs, in one transaction; ``send.py``
delivers them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.digests.alerts import ensure_alert_subscriptions, users_with_email_alerts
from dailypapers.digests.compose import KIND_ALERTS
from dailypapers.digests.send import PENDING
from dailypapers.models import DigestSend, Job, Subscription
from dailypapers.periods import CADENCES, digest_period_key, due_digest_window, parse_digest_period


def _active() -> ColumnElement[bool]:
    return and_(
        Subscription.confirmed_at.is_not(None),
        Subscription.unsubscribed_at.is_(None),
        Subscription.deactivated_at.is_(None),
    )


def schedule_period(session: Session, settings: Settings, period_key: str, now: dt.datetime) -> int:
    """Claim a send row for every active subscription of the period's cadence that has none,
    and queue the jobs that send them, in the caller's transaction. Returns the rows claimed;
    a second call claims only subscriptions confirmed since. A daily period also claims the
    alerts-only mail of each user with email alerts waiting and no digest (digests/alerts.py)."""
    cadence, window = parse_digest_period(period_key)
    key = digest_period_key(cadence, window)
    already = exists().where(
        DigestSend.subscription_id == Subscription.id, DigestSend.period_key == key
    )
    wanted = Subscription.kind != KIND_ALERTS
    if cadence == "daily":
        waiting_alerts = users_with_email_alerts(session)
        carriers = ensure_alert_subscriptions(session, waiting_alerts, _active(), now)
        if carriers:
            wanted = wanted | Subscription.id.in_(sorted(carriers))
    claim = insert(DigestSend).from_select(
        ["subscription_id", "period_key", "state", "attempts", "created_at"],
        select(
            Subscription.id,
            literal(key),
            literal(PENDING),
            literal(0),
            literal(now, DigestSend.created_at.type),
        )
        .where(Subscription.cadence == cadence, _active(), wanted, ~already)
        .order_by(Subscription.id),
    )
    session.execute(claim)
    waiting = list(
        session.scalars(
            select(DigestSend.id)
            .where(DigestSend.period_key == key, DigestSend.state == PENDING)
            .order_by(DigestSend.id)
        )
    )
    unqueued = _not_yet_queued(session, key, waiting)
    size = settings.digest_chunk_size
    chunks = [unqueued[i : i + size] for i in range(0, len(unqueued), size)]
    jobs.enqueue_many(
        session,
        [
            {
                "kind": jobs.DIGEST_SEND_JOB,
                "payload": {"period": key, "send_ids": chunk},
                "dedupe_key": f"digest:{key}:{chunk[0]}",
            }
            for chunk in chunks
        ],
        now=now,
    )
    return len(unqueued)


def _not_yet_queued(session: Session, key: str, send_ids: Sequence[int]) -> list[int]:
    """Rows of the period that no send job names yet (a rescheduled period only queues those)."""
    if not send_ids:
        return []
    queued: set[int] = set()
    payloads = session.scalars(
        select(Job.payload).where(
            Job.kind == jobs.DIGEST_SEND_JOB,
            Job.dedupe_key.like(f"digest:{key}:%"),
            Job.state.in_(jobs.PENDING_STATES),  # rows of ended jobs may be queued again
        )
    )
    for payload in payloads:
        queued.update(payload.get("send_ids", ()))
    return [send_id for send_id in send_ids if send_id not in queued]


def period_counts(session: Session, period_key: str) -> dict[str, int]:
    """Send rows of a period by state (pending / sent / skipped / failed)."""
    rows = session.execute(
        select(DigestSend.state, func.count())
        .where(DigestSend.period_key == period_key)
        .group_by(DigestSend.state)
    ).all()
    return dict(rows)


def schedule_due_digests(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Queue each cadence's scheduling job at its local send time, once per period (called by
    the worker loop, like the daily harvest)."""
    if not settings.digest_enabled:
        return
    # A fixed TODAY (demos, tests) is the day the schedule runs on; otherwise the clock's.
    local_day = settings.today or now.astimezone(settings.tz).date()
    for cadence in CADENCES:
        window = due_digest_window(cadence, local_day, settings.digest_weekly_day)
        if window is None:
            continue
        key = digest_period_key(cadence, window)
        dedupe = f"digest-schedule:{key}"
        if session.scalar(select(Job.id).where(Job.dedupe_key == dedupe).limit(1)) is not None:
            continue
        at = settings.digest_daily_time if cadence == "daily" else settings.digest_weekly_time
        due = dt.datetime.combine(local_day, at, tzinfo=settings.tz).astimezone(dt.UTC)
        jobs.enqueue(
            session,
            jobs.DIGEST_SCHEDULE_JOB,
            {"period": key},
            dedupe_key=dedupe,
            run_after=due,
            now=now,
        )
