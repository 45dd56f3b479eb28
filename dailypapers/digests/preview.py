"""``digest preview``: a digest rendered as a subscriber would get it, nothing sent or recorded."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.digests.compose import PeriodComposer, in_order, latest_period, load_papers
from dailypapers.digests.render import MailParts, MailRenderer
from dailypapers.digests.subscriptions import normalize_email
from dailypapers.models import Subscription


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
    renderer = MailRenderer(settings)
    previews = []
    for subscription in subscriptions:
        period = period_key or latest_period(session, settings, subscription.cadence)
        composer = PeriodComposer(session, settings, period)
        digest = composer.compose_many([subscription])[subscription.id]
        papers = load_papers(session, digest.paper_ids)
        parts = renderer.digest(
            subscription,
            period_key=period,
            period_label=composer.label,
            papers=in_order(papers, digest.paper_ids),
            note=digest.note,
        )
        previews.append((parts.subject, parts))
    return previews
