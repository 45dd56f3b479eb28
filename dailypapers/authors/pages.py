"""What an author page shows, read through ``authors.name_key`` (one index) and
``paper_authors``: the spellings merged under the key, the visible papers newest first, their
upvotes, the most frequent co-authors. A service: it takes a session and never writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dailypapers.authors.names import key_of_slug
from dailypapers.models import Author, Paper, PaperAuthor
from dailypapers.papers import Paged, papers_in_order

# A key longer than the column cannot be stored: such a slug names nobody (no query needed).
MAX_KEY_CHARS = 300
TOP_COAUTHORS = 12


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    papers: int


@dataclass(frozen=True, slots=True)
class Coauthor:
    name: str
    slug: str
    papers: int


@dataclass(frozen=True, slots=True)
class AuthorSummary:
    """An author's key, the spellings stored under it (most papers first) and totals over the
    visible papers."""

    key: str
    variants: tuple[Variant, ...]
    paper_count: int
    upvotes: int

    @property
    def name(self) -> str:
        """The spelling on most papers: the page's heading."""
        return self.variants[0].name

    @property
    def slug(self) -> str:
        return self.key.replace(" ", "-")


@dataclass(frozen=True, slots=True)
class AuthorPapers(Paged):
    """One page of the author's papers; ``page`` counts from 0 (the ``pager`` macro's shape)."""

    papers: Sequence[Paper]
    total: int
    page: int
    page_size: int


def key_of_path(slug: str) -> str:
    """The key a path segment stands for ('' when it cannot name anyone)."""
    if len(slug) > 4 * MAX_KEY_CHARS:
        return ""
    key = key_of_slug(slug)
    return key if len(key) <= MAX_KEY_CHARS else ""


def _paper_ids(key: str) -> Select[Any]:
    """The ids of the visible papers with a name under ``key`` (a paper listing two spellings
    of one author counts once)."""
    return (
        select(PaperAuthor.paper_id)
        .join(Author, Author.id == PaperAuthor.author_id)
        .join(Paper, Paper.id == PaperAuthor.paper_id)
        .where(Author.name_key == key, Paper.hidden_at.is_(None))
        .distinct()
    )


def author_summary(session: Session, key: str) -> AuthorSummary | None:
    """The author under ``key``, or None when no visible paper carries a name under it."""
    if not key:
        return None
    rows = session.execute(
        select(Author.name, func.count(PaperAuthor.paper_id))
        .join(PaperAuthor, PaperAuthor.author_id == Author.id)
        .join(Paper, Paper.id == PaperAuthor.paper_id)
        .where(Author.name_key == key, Paper.hidden_at.is_(None))
        .group_by(Author.name)
        .order_by(func.count(PaperAuthor.paper_id).desc(), Author.name)
    ).all()
    if not rows:
        return None
    ids = _paper_ids(key).subquery()
    shown_upvotes = Paper.external_upvotes + Paper.local_upvotes
    count, upvotes = session.execute(
        select(func.count(), func.coalesce(func.sum(shown_upvotes), 0))
        .select_from(Paper)
        .join(ids, ids.c.paper_id == Paper.id)
    ).one()
    variants = tuple(Variant(name, int(papers)) for name, papers in rows)
    return AuthorSummary(key, variants, int(count), int(upvotes))


def author_papers(session: Session, key: str, *, page: int, page_size: int) -> AuthorPapers:
    """The author's visible papers, newest first (arXiv publication, else when stored)."""
    ids = _paper_ids(key).subquery()
    newest = func.coalesce(Paper.published_at, Paper.created_at)
    page_ids = list(
        session.scalars(
            select(Paper.id)
            .join(ids, ids.c.paper_id == Paper.id)
            .order_by(newest.desc(), Paper.id.desc())
            .offset(page * page_size)
            .limit(page_size)
        )
    )
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    return AuthorPapers(papers_in_order(session, page_ids), int(total), page, page_size)


def coauthors(session: Session, key: str, limit: int = TOP_COAUTHORS) -> list[Coauthor]:
    """The authors on most of this author's visible papers (one grouped query)."""
    ids = _paper_ids(key).subquery()
    shared = func.count(func.distinct(PaperAuthor.paper_id))
    rows = session.execute(
        select(Author.name_key, func.min(Author.name), shared)
        .join(PaperAuthor, PaperAuthor.author_id == Author.id)
        .join(ids, ids.c.paper_id == PaperAuthor.paper_id)
        .where(Author.name_key != key, Author.name_key != "")
        .group_by(Author.name_key)
        .order_by(shared.desc(), Author.name_key)
        .limit(limit)
    ).all()
    return [Coauthor(name, other.replace(" ", "-"), int(n)) for other, name, n in rows]
