"""Email digest subscriptions and what each was sent. Times are UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dailypapers.models.base import Base, UTCDateTime, utcnow


class Subscription(Base):
    """An email digest subscription (no account needed, except for the ``for_me`` and
    ``alerts`` kinds, which belong to ``user_id``). Active = confirmed, not unsubscribed, not
    deactivated. ``unsubscribe_token`` is the secret in its manage/unsubscribe links."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint(
            "email_key", "cadence", "topic_query", "kind", name="uq_subscriptions_email"
        ),
        Index("ix_subscriptions_cadence_confirmed", "cadence", "confirmed_at"),
        Index("ix_subscriptions_user_kind", "user_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address as compared: lower-cased, so Foo@x.org and foo@x.org are one subscriber.
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    cadence: Mapped[str] = mapped_column(String(10))  # daily | weekly
    topic_query: Mapped[str] = mapped_column(String(300), default="")  # "" = trending
    # list: the period's list (trending or the topic); for_me: ranked for the owning account;
    # alerts: only the account's email alerts (it has no digest to carry them).
    kind: Mapped[str] = mapped_column(String(10), default="list", server_default="list")
    paper_count: Mapped[int] = mapped_column(Integer)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hard_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    @property
    def active(self) -> bool:
        return (
            self.confirmed_at is not None
            and self.unsubscribed_at is None
            and self.deactivated_at is None
        )


class DigestSend(Base):
    """The claim that makes one period's mail go out once per subscription (DESIGN.md §3).

    Created ``pending`` in the transaction that queues the send job; ``paper_ids`` is frozen
    before the first attempt so a resend after a crash carries the same content under the same
    ``message_id``; ``sent`` is committed right after the server accepts the message."""

    __tablename__ = "digest_sends"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_key", name="uq_digest_sends_period"),
        Index("ix_digest_sends_period_state", "period_key", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(30))  # daily:2026-02-10 | weekly:2026-W07
    state: Mapped[str] = mapped_column(String(10), default="pending")
    paper_ids: Mapped[list[int] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # why the digest is empty, when it is
    # Frozen with paper_ids: {"reasons": {paper id: [...]}, "alerts": [[paper id, [...]], ...],
    # "fallback": "why this list is trending"} (send.py).
    sections: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message_id: Mapped[str | None] = mapped_column(String(250))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a sender claims the row (state "sending") just before handing it to SMTP.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription] = relationship()


class DigestTopicMatch(Base):
    """A topic query's ranked papers for one period, searched once and shared by every
    subscription (and every send job and worker) with that topic."""

    __tablename__ = "digest_topic_matches"

    period_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    topic_query: Mapped[str] = mapped_column(String(300), primary_key=True)
    paper_ids: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DigestReceived(Base):
    """Papers a subscription has been sent, so no later digest repeats one."""

    __tablename__ = "digest_received"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
