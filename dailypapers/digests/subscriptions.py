"""Subscribing to digests: double opt-in, manage by link, one-click unsubscribe (services).

Functions take a session and never commit; mail is a job queued in the caller's transaction,
sent by the worker's ``HANDLERS`` at the end of this module.
Nothing says whether an address was already subscribed (the same answer and the same mail
either way), so the form cannot be used to learn who reads the site.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import secrets
from dataclasses import dataclass
from email.message import Message
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dailypapers import jobs, rate_limits
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.digests.compose import KIND_ALERTS, KIND_FOR_ME, KIND_LIST, latest_period
from dailypapers.digests.preview import render_unrecorded
from dailypapers.digests.render import DigestRenderer
from dailypapers.jobs import CONFIRM_MAIL_JOB, SAMPLE_MAIL_JOB, JobContext
from dailypapers.mail.addresses import normalize_email
from dailypapers.mail.mailer import PermanentMailError, open_mailer
from dailypapers.mail.render import MailRenderer, one_line
from dailypapers.models import Subscription, User
from dailypapers.periods import CADENCES, DigestCadence
from dailypapers.search.lexical import MAX_QUERY_CHARS, searchable
from dailypapers.signing import Signer, TokenError

CONFIRM_PURPOSE = "subscription-confirm"
MAX_PAPERS = 50

log = logging.getLogger(__name__)


class SubscriptionFormError(ValueError):
    """Bad form input: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


KINDS = (KIND_LIST, KIND_FOR_ME)  # what the forms offer; alerts-only mails are made by the schedule


@dataclass(frozen=True, slots=True)
class SubscriptionChoice:
    """A validated subscribe form. A "for me" choice goes to ``user_id``'s verified address."""

    email: str
    email_key: str
    cadence: DigestCadence
    topic_query: str
    paper_count: int
    kind: str = KIND_LIST
    user_id: int | None = None


def clean_topic(raw: str) -> str:
    """A topic query kept on one line and short; one with no searchable word is refused."""
    topic = one_line(raw)
    if len(topic) > MAX_QUERY_CHARS:
        raise ValueError(f"Keep the topic under {MAX_QUERY_CHARS} characters.")
    if topic and not searchable(topic):
        raise ValueError("The topic needs a word to search for or a filter (author:, cat:, …).")
    return topic


def validate_choice(
    settings: Settings,
    *,
    email: str,
    cadence: str,
    topic: str,
    paper_count: str | int | None,
    kind: str = KIND_LIST,
    user: User | None = None,
) -> SubscriptionChoice:
    """Check every field at once, so the form can show every problem with the text kept. A
    "for me" digest needs a signed-in ``user`` with a verified address (it is sent there, and
    that verification is its opt-in) and takes no topic."""
    errors: dict[str, str] = {}
    address = key = ""
    if kind not in KINDS:
        errors["kind"] = "Choose the top papers or a digest ranked for you."
    elif kind == KIND_FOR_ME:
        if user is None:
            errors["kind"] = "Sign in to get a digest ranked for you."
        elif not user.email or user.email_verified_at is None:
            errors["kind"] = "Verify your account's address first: the digest is sent there."
        else:
            email = user.email
        if one_line(topic):
            errors["topic"] = "A digest ranked for you has no topic: leave it empty."
    try:
        address, key = normalize_email(email)
    except ValueError as exc:
        errors.setdefault("email", str(exc))
    if cadence not in CADENCES:
        errors["cadence"] = "Choose daily or weekly."
    try:
        topic_query = clean_topic(topic)
    except ValueError as exc:
        errors["topic"] = str(exc)
        topic_query = ""
    count = settings.digest_default_papers
    if paper_count not in (None, ""):
        try:
            count = int(paper_count)
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_PAPERS:
            errors["paper_count"] = f"Choose between 1 and {MAX_PAPERS} papers."
    if errors:
        raise SubscriptionFormError(errors)
    owner = user.id if kind == KIND_FOR_ME and user is not None else None
    return SubscriptionChoice(address, key, cadence, topic_query, count, kind, owner)  # type: ignore[arg-type]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def subscribe(
    session: Session,
    settings: Settings,
    choice: SubscriptionChoice,
    *,
    client_ip: str | None,
    now: dt.datetime,
) -> Subscription:
    """Create (or revive) a subscription and queue its confirmation mail.

    Raises :class:`rate_limits.RateLimitedError` when this client or this address has asked
    too often; the per-address limit counts mails, so the form cannot mail-bomb anyone.
    A "for me" subscription is confirmed at once (the account's address is verified) and
    sends no confirmation mail."""
    if client_ip:
        rate_limits.hit(
            session,
            f"subscribe:ip:{client_ip}",
            rate_limits.parse_rate(settings.subscribe_limit_per_ip),
            now,
        )
    limit_address_mail(session, settings, choice.email_key, now)
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.email_key == choice.email_key,
            Subscription.cadence == choice.cadence,
            Subscription.topic_query == choice.topic_query,
            Subscription.kind == choice.kind,
        )
    )
    if subscription is None:
        subscription = Subscription(
            email=choice.email,
            email_key=choice.email_key,
            cadence=choice.cadence,
            topic_query=choice.topic_query,
            kind=choice.kind,
            paper_count=choice.paper_count,
            unsubscribe_token=new_token(),
            user_id=choice.user_id,
            hard_failures=0,
            created_at=now,
        )
        session.add(subscription)
    elif subscription.unsubscribed_at is not None or subscription.deactivated_at is not None:
        # Coming back after unsubscribing (or a bounce): confirm again, with a new link. A
        # pending one keeps its token, so the link already mailed keeps working.
        subscription.confirmed_at = None
        subscription.unsubscribed_at = None
        subscription.deactivated_at = None
        subscription.hard_failures = 0
        subscription.unsubscribe_token = new_token()
    if not subscription.active:
        subscription.email = choice.email
        subscription.paper_count = choice.paper_count
    if choice.kind == KIND_FOR_ME:
        subscription.user_id = choice.user_id
        if subscription.confirmed_at is None:
            subscription.confirmed_at = now
        session.flush()
        return subscription
    session.flush()
    # One pending confirmation mail per subscription, however often the form is sent.
    jobs.enqueue(
        session,
        CONFIRM_MAIL_JOB,
        {"subscription_id": subscription.id},
        dedupe_key=f"confirm:{subscription.id}",
        now=now,
    )
    return subscription


def limit_address_mail(
    session: Session, settings: Settings, email_key: str, now: dt.datetime
) -> None:
    """Count one mail asked for by a visitor (confirmation, sample) to this address. Callers
    commit even when it raises, so refused attempts count too."""
    local, _, domain = email_key.partition("@")
    mailbox = f"{local.split('+', 1)[0]}@{domain}"  # a+1@x and a+2@x reach one mailbox
    rate_limits.hit(
        session,
        f"subscribe:address:{mailbox}",
        rate_limits.parse_rate(settings.subscribe_limit_per_address),
        now,
    )


def confirm_token(signer: Signer, subscription: Subscription) -> str:
    return signer.dumps(CONFIRM_PURPOSE, [subscription.id, subscription.unsubscribe_token])


def confirm(
    session: Session, settings: Settings, signer: Signer, token: str, now: dt.datetime
) -> Subscription:
    """Confirm by the mailed link; confirming twice is harmless. TokenError when the link is
    altered, expired, or from before an unsubscribe (the subscription's token changed)."""
    value = signer.loads(
        CONFIRM_PURPOSE, token, max_age_seconds=settings.subscribe_confirm_days * 86400
    )
    try:
        subscription_id, unsubscribe_token = int(value[0]), str(value[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenError("This link is not valid (it may have been cut or altered).") from None
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.unsubscribe_token != unsubscribe_token:
        raise TokenError("This link is no longer valid; subscribe again to get a new one.")
    if subscription.unsubscribed_at is not None or subscription.deactivated_at is not None:
        raise TokenError("This subscription has ended; subscribe again to get a new link.")
    if subscription.confirmed_at is None:
        subscription.confirmed_at = now
    return subscription


def by_token(session: Session, token: str) -> Subscription | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(select(Subscription).where(Subscription.unsubscribe_token == token))


def unsubscribe(subscription: Subscription, now: dt.datetime) -> None:
    """Stop every later digest; idempotent (a second click changes nothing)."""
    if subscription.unsubscribed_at is None:
        subscription.unsubscribed_at = now


def update(session: Session, subscription: Subscription, choice: SubscriptionChoice) -> None:
    """Change cadence, topic or size from the manage page (the address and the kind stay;
    a "for me" digest has no topic, an alerts-only mail nothing to change)."""
    if subscription.kind == KIND_ALERTS:
        raise SubscriptionFormError(
            {"kind": "This mail only carries your alerts: change what you follow instead."}
        )
    if subscription.kind == KIND_FOR_ME and choice.topic_query:
        raise SubscriptionFormError(
            {"topic": "A digest ranked for you has no topic: leave it empty."}
        )
    clash = session.scalar(
        select(Subscription.id).where(
            Subscription.email_key == subscription.email_key,
            Subscription.cadence == choice.cadence,
            Subscription.topic_query == choice.topic_query,
            Subscription.kind == subscription.kind,
            Subscription.id != subscription.id,
        )
    )
    if clash is not None:
        raise SubscriptionFormError(
            {"topic": "You already have a subscription with this cadence and topic."}
        )
    subscription.cadence = choice.cadence
    subscription.topic_query = choice.topic_query
    subscription.paper_count = choice.paper_count


def of_user(session: Session, user: User) -> list[Subscription]:
    """The account's subscriptions (made for it, or to its verified address), for its page."""
    mine = Subscription.user_id == user.id
    if user.email and user.email_verified_at is not None:
        mine = or_(mine, Subscription.email_key == user.email.lower())
    return list(session.scalars(select(Subscription).where(mine).order_by(Subscription.id)))


def request_sample(
    session: Session, settings: Settings, subscription: Subscription, now: dt.datetime
) -> None:
    """Queue "send me a sample now" (rate-limited with the confirmation mails)."""
    limit_address_mail(session, settings, subscription.email_key, now)
    jobs.enqueue(session, SAMPLE_MAIL_JOB, {"subscription_id": subscription.id}, now=now)


# Background work: the mails a subscriber asks for --------------------------------------------


def run_confirmation_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Send the double opt-in mail; a 5xx is recorded on the subscription, not retried."""
    settings = context.settings
    renderer = MailRenderer(settings)
    with session_scope(context.factory) as session:
        subscription = session.get(Subscription, int(payload["subscription_id"]))
        if subscription is None or subscription.unsubscribed_at is not None:
            return
        token = confirm_token(Signer(settings), subscription)
        parts = renderer.render(
            "confirm",
            {
                "cadence": subscription.cadence,
                "topic": subscription.topic_query,
                "confirm_url": f"{settings.base_url}/subscribe/confirm/{token}",
                "valid_days": settings.subscribe_confirm_days,
            },
        )
        message = renderer.message(
            parts,
            to=subscription.email,
            message_id=email.utils.make_msgid("confirm", domain=renderer.mail_domain),
            now=context.now,
        )
    _send_one(context, message, int(payload["subscription_id"]))


def run_sample_job(context: JobContext, payload: dict[str, Any]) -> None:
    """ "Send me a sample now": the latest daily list as this subscription would get it, without
    counting its papers as received."""
    settings = context.settings
    renderer = DigestRenderer(settings)
    with session_scope(context.factory) as session:
        subscription = session.get(Subscription, int(payload["subscription_id"]))
        if subscription is None or not subscription.active:
            return
        period_key = latest_period(session, settings, subscription.cadence)
        parts = render_unrecorded(
            session, settings, renderer, subscription, period_key, sample=True
        )
        message = renderer.digest_message(
            subscription,
            parts,
            message_id=email.utils.make_msgid("sample", domain=renderer.mail_domain),
            now=context.now,
        )
    _send_one(context, message, int(payload["subscription_id"]))


def _send_one(context: JobContext, message: Message, subscription_id: int) -> None:
    with open_mailer(context.settings) as mailer:
        try:
            mailer.send(message)
        except PermanentMailError as exc:
            with session_scope(context.factory) as session:
                subscription = session.get(Subscription, subscription_id)
                if subscription is not None:
                    subscription.last_error = str(exc)[:1000]
            log.warning("mail to subscription %s refused: %s", subscription_id, exc)


HANDLERS: dict[str, jobs.Handler] = {
    CONFIRM_MAIL_JOB: run_confirmation_job,
    SAMPLE_MAIL_JOB: run_sample_job,
}
