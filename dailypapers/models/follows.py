"""Follows and the alert bookkeeping (docs/follows.md). Times are UTC.

One paper that matches several follows of a user is one ``alert_matches`` row (unique on user
× paper) holding every reason, and each channel delivers it at most once: an
``alert_deliveries`` row (unique on user × paper × channel) is the claim a channel takes
before it delivers, in the same transaction as the delivery's own record (the digest's frozen
papers, the feed's entry, the webhook's queued job)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dailypapers.models.base import Base, UTCDateTime, utcnow


class Follow(Base):
    """What a user follows. ``target`` is the normalized key the matcher compares (an author
    key, an org name, an arXiv category, a /search query); ``label`` is what people see.
    ``channels`` is a list of "email" | "feed" | "webhook"."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "target", name="uq_follows_user_kind_target"),
        Index("ix_follows_kind_target", "kind", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # author | org | category | search
    target: Mapped[str] = mapped_column(String(300))
    label: Mapped[str] = mapped_column(String(300))
    channels: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertMatch(Base):
    """A paper that matched some of a user's follows: one row however many, with each reason."""

    __tablename__ = "alert_matches"
    __table_args__ = (Index("ix_alert_matches_user_matched", "user_id", "matched_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reasons: Mapped[list[str]] = mapped_column(JSON)
    # The channels of the follows it matched: a channel delivers it only when listed here.
    channels: Mapped[list[str]] = mapped_column(JSON)
    matched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDelivery(Base):
    """The claim that a channel delivered (or is delivering) a match: once per channel."""

    __tablename__ = "alert_deliveries"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    delivered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertFeedToken(Base):
    """The secret of a user's private alerts feed URL; regenerating replaces it (the old URL
    then answers 404)."""

    __tablename__ = "alert_feed_tokens"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertCursor(Base):
    """How far the matcher has looked: papers stored after ``last_paper_id`` are new."""

    __tablename__ = "alert_cursor"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    last_paper_id: Mapped[int] = mapped_column(default=0)
