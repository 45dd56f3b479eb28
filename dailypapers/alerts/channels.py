"""Channel call sites of the alert pipeline that other modules fill in."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from dailypapers.alerts import AlertItem


def deliver_webhooks(session: Session, user_id: int, items: Sequence[AlertItem]) -> None:
    """Hand a user's new webhook alerts to their webhooks, in the pipeline's transaction (each
    item is already claimed once for the "webhook" channel).

    The webhooks module's ``queue_alert`` is wired here: at merge time this becomes
    ``webhooks.service.queue_alert(session, user_id, items)``, which queues one signed POST
    job per hook. Until then it does nothing."""
    del session, user_id, items
