"""A user's webhooks: register, list, delete, re-enable, send a test, and queue alerts.

Every function takes the caller's session and never commits: a delivery is a job row in the
caller's transaction (``jobs.enqueue``), so it exists exactly when the write that caused it
commits. The follow pipeline calls :func:`queue_alert`; the worker runs ``delivery.HANDLERS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.alerts import AlertItem
from dailypapers.config import Settings
from dailypapers.jobs import WEBHOOK_JOB, WEBHOOK_TEST_JOB
from dailypapers.models import User, Webhook, WebhookDelivery
from dailypapers.webhooks.targets import Resolver, TargetError, resolve, system_resolver

# Papers in one delivery: a larger alert goes out as several deliveries (bodies stay small).
MAX_PAPERS_PER_DELIVERY = 50
SECRET_PREFIX = "whsec_"  # noqa: S105 (a label that marks the secret, not one)


class WebhookError(ValueError):
    """A refused webhook action; the message says why. ``not_found`` → 404, else 400."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def webhooks_of(session: Session, user: User) -> list[Webhook]:
    return list(
        session.scalars(select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.id))
    )


def own_webhook(session: Session, user: User, webhook_id: int) -> Webhook:
    """The user's hook with that id; another user's is "not found" too (no probing)."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise WebhookError(f"You have no webhook with id {webhook_id}.", not_found=True)
    return hook


def check_target(settings: Settings, url: str, resolver: Resolver = system_resolver) -> str:
    """The URL to store, after the shape, DNS and address checks (``targets.resolve``). Call
    it before the write transaction: it may wait on DNS."""
    try:
        return resolve(url, allow_private=settings.webhook_allow_private, resolver=resolver).url
    except TargetError as exc:
        raise WebhookError(str(exc)) from None


def create_webhook(
    session: Session, settings: Settings, user: User, checked_url: str, now: dt.datetime
) -> Webhook:
    """Add a hook for a URL that :func:`check_target` returned; its secret is on the row
    (show it to the owner once)."""
    count = session.scalar(select(func.count()).where(Webhook.user_id == user.id)) or 0
    if count >= settings.webhook_max_per_user:
        raise WebhookError(
            f"You have {count} webhooks, the most an account may have; delete one first."
        )
    if len(checked_url) > 2000:  # check_target caps it; the column holds no more
        raise WebhookError("The URL is longer than 2000 characters.")
    hook = Webhook(
        user_id=user.id,
        url=checked_url,
        secret=SECRET_PREFIX + secrets.token_urlsafe(32),
        active=True,
        consecutive_failures=0,
        created_at=now,
    )
    session.add(hook)
    session.flush()
    return hook


def delete_webhook(session: Session, user: User, webhook_id: int) -> None:
    session.delete(own_webhook(session, user, webhook_id))  # its log goes with it (cascade)


def enable_webhook(session: Session, user: User, webhook_id: int) -> Webhook:
    """Turn a disabled hook back on, its failure count at zero (missed alerts are not resent)."""
    hook = own_webhook(session, user, webhook_id)
    hook.active = True
    hook.consecutive_failures = 0
    hook.disabled_at = None
    hook.disabled_reason = None
    return hook


def send_test(session: Session, user: User, webhook_id: int, now: dt.datetime) -> Webhook:
    """Queue a 'test' delivery (one attempt, shown in the log; a second click while one is
    waiting is the same job)."""
    hook = own_webhook(session, user, webhook_id)
    if not hook.active:
        raise WebhookError("This webhook is disabled: turn it back on first.")
    jobs.enqueue(
        session,
        WEBHOOK_TEST_JOB,
        _payload(hook, "test", []),
        dedupe_key=f"webhook-test:{hook.id}",
        now=now,
    )
    return hook


def deliveries_of(session: Session, hook: Webhook, limit: int = 20) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def _payload(hook: Webhook, event: str, items: Sequence[AlertItem]) -> dict[str, Any]:
    """The job's payload: what to send, never the secret (job rows are listed by the CLI)."""
    return {
        "webhook_id": hook.id,
        "event": event,
        "delivery_id": str(uuid.uuid4()),
        "created_at": _now().isoformat(),
        "items": [{"paper_id": item.paper_id, "reasons": list(item.reasons)} for item in items],
    }


def _items_key(items: Sequence[AlertItem]) -> str:
    ids = ",".join(str(item.paper_id) for item in sorted(items, key=lambda item: item.paper_id))
    return hashlib.sha256(ids.encode()).hexdigest()[:32]


def queue_alert(session: Session, user_id: int, items: Sequence[AlertItem]) -> int:
    """Queue one delivery job per active webhook of the user (a long list in chunks of
    ``MAX_PAPERS_PER_DELIVERY`` papers), in the caller's transaction; returns how many jobs.

    The same papers for the same hook while a delivery of them is still pending are one job
    (the dedupe key), so a caller that repeats itself after a crash sends nothing twice."""
    if not items:
        return 0
    hooks = session.scalars(
        select(Webhook).where(Webhook.user_id == user_id, Webhook.active.is_(True))
    ).all()
    chunks = [
        list(items[start : start + MAX_PAPERS_PER_DELIVERY])
        for start in range(0, len(items), MAX_PAPERS_PER_DELIVERY)
    ]
    rows = [
        {
            "kind": WEBHOOK_JOB,
            "payload": _payload(hook, "alert", chunk),
            "dedupe_key": f"webhook:{hook.id}:{_items_key(chunk)}",
        }
        for hook in hooks
        for chunk in chunks
    ]
    jobs.enqueue_many(session, rows)
    return len(rows)
