"""Authorship claims: an account asks to be linked to an author key; a moderator decides."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dailypapers.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from dailypapers.models.accounts import User

CLAIM_STATUSES = ("pending", "approved", "refused")


class AuthorClaim(Base):
    """One request of ``user`` to be the author whose names share ``name_key``
    (authors/names.py). At most one claim per key is approved, and a user has at most one
    pending claim per key (partial unique indexes, so a race cannot make two)."""

    __tablename__ = "author_claims"
    __table_args__ = (
        Index(
            "uq_author_claims_approved",
            "name_key",
            unique=True,
            sqlite_where=text("status = 'approved'"),
            postgresql_where=text("status = 'approved'"),
        ),
        Index(
            "uq_author_claims_pending",
            "user_id",
            "name_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_author_claims_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    message: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by])
