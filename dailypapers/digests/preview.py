"""``digest preview`` and samples: a digest rendered as a subscriber would get it, nothing
recorded (a sample is a preview that is mailed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.digests.compose import PeriodComposer, in_order, latest_period, load_papers
from dailypapers.digests.render import DigestRenderer
from dailypapers.mail.addresses import normalize_email
from dailypapers.mail.render import MailParts
from dailypapers.models import Subscription


def render_unrecorded(
    session: Session,
    settings: Settings,
    renderer: DigestRenderer,
    subscription: Subscription,
    period_key: str,
    *,
    sample: bool = False,
) -> MailParts:
    """The subscription's digest of the period. A preview leaves out the papers the subscriber
    has received; a ``sample`` shows the whole list, as a first digest would."""
    composer = PeriodComposer(session, settings, period_key)
    if sample:
        digest = composer.compose(subscription, ())
    else:
        digest = composer.compose_many([subscription])[subscription.id]
    papers = load_papers(session, digest.paper_ids)
    return renderer.digest(
        subscription,
        period_key=period_key,
        period_label=composer.label,
        papers=in_order(papers, digest.paper_ids),
        note=digest.note,
        sample=sample,
    )


def preview_digests(
    session: Session, settings: Settings, address: str | None, period_key: str | None
) -> list[tuple[str, MailParts]]:
    """One rendered digest per subscription of ``address`` (a new daily subscriber's when
    None); ValueError when the address is malformed or has no subscription."""
    if address is None:
        subscriptions = [
            Subscription(
                id=0,
                email="preview@example.org",
                cadence="daily",
                topic_query="",
                paper_count=settings.digest_default_papers,
                unsubscribe_token="preview",  # noqa: S106 (a placeholder, links go nowhere)
            )
        ]
    else:
        _, key = normalize_email(address)
        subscriptions = list(
            session.scalars(
                select(Subscription).where(Subscription.email_key == key).order_by(Subscription.id)
            )
        )
        if not subscriptions:
            raise ValueError(f"{address} has no subscription.")
    renderer = DigestRenderer(settings)
    previews = []
    for subscription in subscriptions:
        period = period_key or latest_period(session, settings, subscription.cadence)
        parts = render_unrecorded(session, settings, renderer, subscription, period)
        previews.append((parts.subject, parts))
    return previews
