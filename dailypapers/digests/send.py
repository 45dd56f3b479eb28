"""Delivering digests: none lost, none repeated (DESIGN.md §3).

1. ``schedule.schedule_period`` claims the period's send rows and queues the send jobs.
2. A ``send_digest`` job takes a chunk of rows: it composes and freezes the papers of each
   pending row (with its sections: a "for me" list's reasons, the "From your follows" alerts,
   whose email claims are taken here) and records them as received (committed), then sends
   each message and commits ``sent`` right after the SMTP server accepts it. A crash between
   the two can only resend that one message, with the same Message-ID and content; every
   other row is either sent or still pending.
3. A 4xx reply or a lost connection leaves the row pending and the job is retried with backoff;
   a 5xx reply fails that row only, and a subscription refused too often is deactivated.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, or_, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from dailypapers import jobs
from dailypapers.alerts import AlertItem
from dailypapers.alerts.pipeline import give_back
from dailypapers.bulk import insert_rows
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.digests.alerts import owners, take_sections
from dailypapers.digests.compose import (
    KIND_ALERTS,
    ComposedDigest,
    PeriodComposer,
    in_order,
    load_papers,
)
from dailypapers.digests.render import DigestRenderer
from dailypapers.library.marks import states_by_subscription
from dailypapers.mail.mailer import Mailer, PermanentMailError, TransientMailError, open_mailer
from dailypapers.models import DigestReceived, DigestSend, Subscription

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, SKIPPED, FAILED = "pending", "sending", "sent", "skipped", "failed"
# Transient failures in a row after which a chunk stops and waits for its retry (server trouble).
MAX_TRANSIENT_IN_A_ROW = 3


@dataclass
class SendStats:
    """What a run did; ``pending`` rows wait for a retry."""

    scheduled: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    pending: int = 0
    pending_ids: list[int] = field(default_factory=list)


@dataclass
class _Outgoing:
    send_id: int
    subscription_id: int
    paper_ids: list[int]  # the list's and the section's: what counts as received
    message: Message
    reset_failures: bool  # the subscription had hard failures; a delivery clears them
    alert_owner: int | None = None  # whose email alerts the section carries
    alert_ids: list[int] = field(default_factory=list)


def _frozen_sections(digest: ComposedDigest, alerts: Sequence[AlertItem]) -> dict[str, Any] | None:
    """What a send freezes next to its paper ids (JSON: lists of [paper id, reasons])."""
    sections: dict[str, Any] = {}
    if digest.reasons:
        sections["reasons"] = [
            [pid, digest.reasons[pid]] for pid in digest.paper_ids if pid in digest.reasons
        ]
    if digest.fallback:
        sections["fallback"] = digest.fallback
    if alerts:
        sections["alerts"] = [[item.paper_id, list(item.reasons)] for item in alerts]
    return sections or None


def _section_parts(
    sections: dict[str, Any] | None,
) -> tuple[dict[int, list[str]], str | None, list[tuple[int, list[str]]]]:
    """The frozen sections back: reasons by paper, the fallback notice, the alert items."""
    sections = sections or {}
    reasons = {int(pid): list(why) for pid, why in sections.get("reasons", ())}
    alerts = [(int(pid), list(why)) for pid, why in sections.get("alerts", ())]
    return reasons, sections.get("fallback"), alerts


def _prepare_chunk(
    session: Session,
    settings: Settings,
    renderer: DigestRenderer,
    period_key: str,
    send_ids: Sequence[int],
    stats: SendStats,
    now: dt.datetime,
) -> list[_Outgoing]:
    """Freeze the content of the chunk's pending rows and render their messages."""
    sends = list(
        session.scalars(
            select(DigestSend)
            .options(joinedload(DigestSend.subscription))
            .where(DigestSend.id.in_(send_ids), _claimable(now, settings))
            .order_by(DigestSend.id)
        )
    )
    composer = PeriodComposer(session, settings, period_key, share_topics=True)
    live = []
    for send in sends:
        if send.subscription.active:
            live.append(send)
        else:  # unsubscribed between scheduling and sending
            send.state, send.last_error = SKIPPED, "subscription no longer active"
            stats.skipped += 1
    fresh = [send for send in live if send.paper_ids is None]
    composed = composer.compose_many([send.subscription for send in fresh])
    # The owners' email alerts are claimed in this transaction, with the frozen papers.
    sections = take_sections(
        session,
        [send.subscription for send in fresh],
        {send.subscription_id: composed[send.subscription_id].paper_ids for send in fresh},
        now,
    )
    received = []
    for send in fresh:
        digest = composed[send.subscription_id]
        alerts = sections.get(send.subscription_id, [])
        send.paper_ids, send.note = digest.paper_ids, digest.note
        send.sections = _frozen_sections(digest, alerts)
        send.message_id = renderer.digest_message_id(send.subscription_id, period_key)
        received += [
            {"subscription_id": send.subscription_id, "paper_id": i}
            for i in dict.fromkeys([*digest.paper_ids, *(item.paper_id for item in alerts)])
        ]
        if send.subscription.kind == KIND_ALERTS and not alerts:
            # An alerts-only mail with nothing left to carry (another digest took them).
            send.state, send.last_error = SKIPPED, "no alerts to carry"
            stats.skipped += 1
    # Frozen content counts as received at once (one statement a chunk, not one a message):
    # it is exactly what this row will deliver, and a row that fails for good gives it back.
    if received:
        insert_rows(
            session.connection(),
            cast(Table, DigestReceived.__table__),
            received,
            suffix="ON CONFLICT DO NOTHING",
        )
    outgoing = []
    live = [send for send in live if send.state != SKIPPED]
    frozen = {send.id: _section_parts(send.sections) for send in live}
    wanted = {i for send in live for i in send.paper_ids or ()}
    wanted |= {pid for _, _, alerts in frozen.values() for pid, _ in alerts}
    papers = load_papers(session, wanted)
    states = states_by_subscription(session, [send.subscription_id for send in live], list(papers))
    owner_of = owners(session, [send.subscription for send in live if frozen[send.id][2]])
    for send in live:
        subscription = send.subscription
        reasons, fallback, alert_items = frozen[send.id]
        ordered = in_order(papers, send.paper_ids or ())
        section = [(papers[pid], why) for pid, why in alert_items if pid in papers]
        note = send.note
        if not ordered and not note and subscription.kind != KIND_ALERTS:
            note = composer.empty_note(subscription.topic_query, had_papers=True)
        if (
            not ordered
            and not section
            and (settings.digest_empty_period == "skip" or subscription.kind == KIND_ALERTS)
        ):
            send.state = SKIPPED
            stats.skipped += 1
            continue
        parts = renderer.digest(
            subscription,
            period_key=period_key,
            period_label=composer.label,
            papers=ordered,
            note=note,
            states=states.get(subscription.id, {}),
            reasons=reasons,
            fallback=fallback,
            alerts=section,
        )
        message = renderer.digest_message(
            subscription,
            parts,
            message_id=send.message_id or renderer.digest_message_id(subscription.id, period_key),
            now=now,
        )
        alert_ids = [pid for pid, _ in alert_items]
        outgoing.append(
            _Outgoing(
                send.id,
                subscription.id,
                list(dict.fromkeys([*(send.paper_ids or ()), *alert_ids])),
                message,
                reset_failures=subscription.hard_failures != 0,
                alert_owner=owner_of.get(subscription.id),
                alert_ids=alert_ids,
            )
        )
    return outgoing


def _claimable(now: dt.datetime, settings: Settings) -> Any:
    """A row a sender may take: pending, or "sending" by a sender silent for longer than the
    job lease (it died with that message in flight: the one repeat a crash may cause)."""
    stale = now - dt.timedelta(seconds=settings.job_lease_seconds)
    return or_(
        DigestSend.state == PENDING,
        and_(DigestSend.state == SENDING, DigestSend.claimed_at < stale),
    )


def _claim(engine: Engine, settings: Settings, item: _Outgoing, now: dt.datetime) -> bool:
    """Take one row just before handing it to SMTP, in its own committed transaction, so two
    senders of the same chunk (a lost lease, a paused worker) never both send it, and a
    subscriber who unsubscribed meanwhile is skipped. False: not ours to send."""
    subscriber_active = (
        select(Subscription.id)
        .where(
            Subscription.id == DigestSend.subscription_id,
            Subscription.unsubscribed_at.is_(None),
            Subscription.deactivated_at.is_(None),
        )
        .exists()
    )
    with engine.begin() as connection:
        taken = connection.execute(
            update(DigestSend)
            .where(DigestSend.id == item.send_id, _claimable(now, settings), subscriber_active)
            .values(state=SENDING, claimed_at=now)
        )
        if taken.rowcount:
            return True
        connection.execute(
            update(DigestSend)
            .where(DigestSend.id == item.send_id, DigestSend.state == PENDING, ~subscriber_active)
            .values(state=SKIPPED, last_error="subscription no longer active")
        )
    return False


def _record_sent(engine: Engine, item: _Outgoing, now: dt.datetime) -> None:
    """One UPDATE and a commit right after the server took the message: the whole window in
    which a crash can repeat it."""
    with engine.begin() as connection:
        connection.execute(
            update(DigestSend)
            .where(DigestSend.id == item.send_id, DigestSend.state == SENDING)
            .values(state=SENT, sent_at=now, attempts=DigestSend.attempts + 1, last_error=None)
        )
        if item.reset_failures:
            connection.execute(
                update(Subscription)
                .where(Subscription.id == item.subscription_id)
                .values(hard_failures=0)
            )


def _record_failure(
    session: Session,
    settings: Settings,
    item: _Outgoing,
    error: Exception,
    *,
    permanent: bool,
    now: dt.datetime,
) -> str:
    """Count the attempt; a permanent refusal (or too many tries) fails the row. Returns its
    new state."""
    send = session.get(DigestSend, item.send_id)
    if send is None or send.state != SENDING:
        return SENT if send is not None and send.state == SENT else FAILED
    send.attempts += 1
    send.last_error = str(error)[:1000]
    send.state = PENDING
    if permanent or send.attempts >= settings.digest_max_attempts:
        send.state = FAILED
        if item.paper_ids:  # never delivered: later digests may carry these papers
            session.execute(
                delete(DigestReceived).where(
                    DigestReceived.subscription_id == item.subscription_id,
                    DigestReceived.paper_id.in_(item.paper_ids),
                )
            )
        if item.alert_owner is not None:  # and its alerts, the owner's next digest
            give_back(session, item.alert_owner, item.alert_ids, "email")
    if permanent:
        subscription = session.get(Subscription, item.subscription_id)
        if subscription is not None:
            subscription.hard_failures += 1
            subscription.last_error = send.last_error
            if subscription.hard_failures >= settings.digest_max_hard_failures:
                subscription.deactivated_at = now
    return send.state


def send_chunk(
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    period_key: str,
    send_ids: Sequence[int],
    *,
    mailer: Mailer | None = None,
    renderer: DigestRenderer | None = None,
    clock: jobs.Clock = jobs.utc_clock,
) -> SendStats:
    """Send the pending rows among ``send_ids``; see the module docstring for the guarantees."""
    stats = SendStats()
    renderer = renderer or DigestRenderer(settings)
    with session_scope(factory) as session:
        outgoing = _prepare_chunk(session, settings, renderer, period_key, send_ids, stats, clock())
    in_a_row = 0
    with open_mailer(settings, mailer) as active:
        for index, item in enumerate(outgoing):
            if not _claim(engine, settings, item, clock()):
                stats.skipped += 1
                continue
            try:
                active.send(item.message)
            except Exception as exc:
                error = exc
                if not isinstance(exc, TransientMailError | PermanentMailError):
                    error = TransientMailError(f"{type(exc).__name__}: {exc}", recipient=True)
                permanent = isinstance(error, PermanentMailError)
                with session_scope(factory) as session:
                    state = _record_failure(
                        session, settings, item, error, permanent=permanent, now=clock()
                    )
                log.warning(
                    "digest %s to subscription %s: %s", period_key, item.subscription_id, error
                )
                if state == FAILED:
                    stats.failed += 1
                else:
                    stats.pending += 1
                    stats.pending_ids.append(item.send_id)
                # A recipient's own refusal says nothing about the others; a server that keeps
                # failing does: stop and let the retry come back later.
                in_a_row = 0 if getattr(error, "recipient", False) else in_a_row + 1
                if in_a_row >= MAX_TRANSIENT_IN_A_ROW:
                    rest = [later.send_id for later in outgoing[index + 1 :]]
                    stats.pending += len(rest)
                    stats.pending_ids.extend(rest)
                    break
                continue
            in_a_row = 0
            _record_sent(engine, item, clock())
            stats.sent += 1
    _recheck_in_flight(factory, send_ids, stats)
    return stats


def _recheck_in_flight(
    factory: sessionmaker[Session], send_ids: Sequence[int], stats: SendStats
) -> None:
    """Rows of this chunk still "sending" belong to another sender: alive (it will record
    them) or dead with the message in flight, its claim not yet stale. Either way they come
    back in the follow-up job, by when they are sent or claimable: never left behind."""
    with session_scope(factory) as session:
        in_flight = session.scalars(
            select(DigestSend.id).where(DigestSend.id.in_(send_ids), DigestSend.state == SENDING)
        ).all()
    waiting = [send_id for send_id in in_flight if send_id not in stats.pending_ids]
    stats.pending += len(waiting)
    stats.pending_ids.extend(waiting)
