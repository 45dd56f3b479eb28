"""Papers, their authors and versions, the Daily Papers list and embeddings. Times are UTC."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dailypapers.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from dailypapers.models.accounts import Org, User


class Author(Base):
    """A name as printed on papers (arXiv does not disambiguate people)."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    # authors/names.author_key(name): the spellings of one author share it; an author page
    # is this index, then paper_authors. Set by every insert (ORM, Core, SQLite's SQL).
    name_key: Mapped[str] = mapped_column(String(300), server_default="", index=True)


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
