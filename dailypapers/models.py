"""SQLAlchemy models of the core tables (DESIGN.md §3). Times are UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Stable constraint names so migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Author(Base):
    """A name as printed on papers (arXiv does not disambiguate people)."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)


class PaperAuthor(Base):
    __tablename__ = "paper_authors"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)

    author: Mapped[Author] = relationship(lazy="joined", innerjoin=True)


class Paper(Base):
    __tablename__ = "papers"
    __table_args__ = (
        # Lists leave hidden papers out with "NOT IN (hidden ids)": this partial index holds
        # only those few rows, so the list is not a scan of the whole store.
        Index(
            "ix_papers_hidden",
            "id",
            sqlite_where=text("hidden_at IS NOT NULL"),
            postgresql_where=text("hidden_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    # The source's text, kept only when LaTeX clean-up changed what ``title``/``abstract`` show.
    title_raw: Mapped[str | None] = mapped_column(Text)
    abstract_raw: Mapped[str | None] = mapped_column(Text)
    # paper_authors → authors is the normalized truth (author queries). Two read copies are
    # kept in step with it by the upsert: the ordered names, so a list page renders 50 cards
    # without loading hundreds of author rows (docs/benchmarks.md), and
    # "A, B, C" text for the lexical index's author column.
    author_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    authors_text: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(200))
    license: Mapped[str | None] = mapped_column(String(200))
    # First day arXiv announced the paper in its listings (the honest calendar reads these).
    listing_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    github_repo: Mapped[str | None] = mapped_column(String(500))
    github_stars: Mapped[int | None] = mapped_column(Integer)
    project_page: Mapped[str | None] = mapped_column(String(500))
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[str] | None] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    # Hash of the last arXiv metadata record applied: a rerun skips records whose hash matches.
    metadata_hash: Mapped[str | None] = mapped_column(String(32))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    external_upvotes: Mapped[int] = mapped_column(Integer, default=0)
    # When the imported count was read at the source; decides which import is newest.
    external_upvotes_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    local_upvotes: Mapped[int] = mapped_column(Integer, default=0)
    trending_score: Mapped[float | None] = mapped_column(Float, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    author_links: Mapped[list[PaperAuthor]] = relationship(
        order_by=PaperAuthor.position, cascade="all, delete-orphan"
    )
    versions: Mapped[list[PaperVersion]] = relationship(
        order_by="PaperVersion.version", cascade="all, delete-orphan"
    )
    daily_entry: Mapped[DailyEntry | None] = relationship(back_populates="paper")
    # Hidden by a moderator: gone from feeds, pages, the API, search and Atom feeds.
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def upvotes(self) -> int:
        """Shown upvotes: imported count plus local votes."""
        return self.external_upvotes + self.local_upvotes


class PaperVersion(Base):
    __tablename__ = "paper_versions"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


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


class Embedding(Base):
    """A paper's vector from one model (DESIGN.md §3). ``content_hash`` is the hash of the text
    it was computed from with that model, so an unchanged paper is never embedded twice and a
    new version is embedded once."""

    __tablename__ = "embeddings"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    # float32, little-endian, unit length: read back with one np.frombuffer per batch.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # Indexed: max(updated_at) tells each process's vector index when to reload.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DailyEntry(Base):
    """A paper put on the Daily Papers list on ``feed_date`` (not its arXiv date)."""

    __tablename__ = "daily_entries"
    __table_args__ = (
        Index("ix_daily_entries_feed_date", "feed_date"),
        Index("ix_daily_entries_submitter_id", "submitter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), unique=True)
    feed_date: Mapped[dt.date] = mapped_column(Date)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    paper: Mapped[Paper] = relationship(back_populates="daily_entry")
    submitter: Mapped[User | None] = relationship()
    organization: Mapped[Org | None] = relationship()


class Job(Base):
    """Work caused by a write, done later by a worker (DESIGN.md §1). See ``jobs.py``."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "priority", "run_after"),
        # One pending job per dedupe key; finished jobs keep their key for the record.
        Index(
            "uq_jobs_pending_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="queued")
    # Lower runs first: mail a person is waiting for goes before a backlog of embeddings.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IngestCheckpoint(Base):
    """Where a source's last run stopped (file offset, resumption token, last date)."""

    __tablename__ = "ingest_checkpoints"

    source: Mapped[str] = mapped_column(String(300), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("user_id", "paper_id", name="uq_votes_user_paper"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """An email digest subscription (no account needed). Active = confirmed, not unsubscribed,
    not deactivated. ``unsubscribe_token`` is the secret in its manage/unsubscribe links."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("email_key", "cadence", "topic_query", name="uq_subscriptions_email"),
        Index("ix_subscriptions_cadence_confirmed", "cadence", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address as compared: lower-cased, so Foo@x.org and foo@x.org are one subscriber.
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    cadence: Mapped[str] = mapped_column(String(10))  # daily | weekly
    topic_query: Mapped[str] = mapped_column(String(300), default="")  # "" = trending
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


class RateLimitCounter(Base):
    """Hits on one rate-limit bucket in one fixed window (see ``rate_limits.py``)."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Comment(Base):
    """A comment on a paper, threaded by ``parent_id``. Deleting keeps the row (the thread stays
    readable) and drops the text; a deleted account leaves ``user_id`` empty ("deleted user")."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_paper_created", "paper_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)  # Markdown as written
    body_html: Mapped[str] = mapped_column(Text)  # rendered and sanitized (nh3)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()


class ModerationAction(Base):
    """Who hid, showed or banned what, when and why (the moderation log)."""

    __tablename__ = "moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))  # hide_paper, hide_comment, ban_user, …
    target_type: Mapped[str] = mapped_column(String(20))  # paper | comment | user
    target_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    moderator: Mapped[User | None] = relationship()


__all__ = [
    "ApiToken",
    "Author",
    "Base",
    "Comment",
    "DailyEntry",
    "DigestReceived",
    "DigestSend",
    "DigestTopicMatch",
    "Embedding",
    "IngestCheckpoint",
    "Job",
    "ModerationAction",
    "Org",
    "OrgMember",
    "Paper",
    "PaperAuthor",
    "PaperVersion",
    "RateLimitCounter",
    "Subscription",
    "User",
    "Vote",
]
