"""Accounts, their sessions and API tokens, organizations. Times are UTC."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dailypapers.models.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(20), default="user")
    # Accounts seen only as submitters in imported Hugging Face data; they cannot sign in.
    is_external: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    banned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Bumped on password change or sign-out everywhere: older session cookies stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Reading settings: seen or dismissed papers shown as one collapsed line in lists.
    collapse_seen: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    collapse_dismissed: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # "New since your last visit": the last request seen, and when the visit before it ended.
    last_active_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    previous_visit_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def display_name(self) -> str:
        return self.fullname or self.username


class ApiToken(Base):
    """A personal token for the JSON API (``Authorization: Bearer``); only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class UserSession(Base):
    """A signed-in browser. The cookie names it by a random id (only its hash is kept here);
    signing out deletes the row, so a copied cookie stops working at once."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgMember(Base):
    __tablename__ = "org_members"

    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), default="member")
