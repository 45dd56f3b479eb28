"""What an author page shows, read through ``authors.name_key`` (one index) and
``paper_authors``: the spellings merged under the key, the visible papers newest first, their
upvotes, the most frequent co-authors. A service: it takes a session and never writes."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dailypapers.authors.names import cached_author_key, key_of_slug
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


def author_papers(
    session: Session, key: str, *, page: int, page_size: int, total: int | None = None
) -> AuthorPapers:
    """The author's visible papers, newest first (arXiv publication, else when stored);
    ``total`` is their number when the caller knows it (``AuthorSummary.paper_count``)."""
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
    if total is None:
        total = session.scalar(select(func.count()).select_from(ids)) or 0
    return AuthorPapers(papers_in_order(session, page_ids), int(total), page, page_size)


def coauthors(session: Session, key: str, limit: int = TOP_COAUTHORS) -> list[Coauthor]:
    """The authors on most of this author's visible papers, most shared papers first, then by
    key; each shown by its first spelling in code point order.

    Counted in Python from the papers' stored ``author_names`` (the list ``paper_authors`` is
    made from): one narrow query, where grouping every co-author row by key in SQL cost
    ~4x more on a 290-paper author (docs/benchmarks.md). A paper counts once per key, however
    many spellings of it it lists."""
    ids = _paper_ids(key).subquery()
    lists = session.scalars(select(Paper.author_names).join(ids, ids.c.paper_id == Paper.id))
    shared: dict[str, int] = {}
    spelled: dict[str, str] = {}
    for names in lists:
        keys = [cached_author_key(name) for name in names]
        for other in set(keys):
            shared[other] = shared.get(other, 0) + 1
        for name, other in zip(names, keys, strict=True):
            if name < spelled.get(other, "\U0010ffff\U0010ffff"):
                spelled[other] = name
    shared.pop(key, None)
    shared.pop("", None)
    top = heapq.nsmallest(limit, shared.items(), key=lambda item: (-item[1], item[0]))
    return [Coauthor(spelled[other], other.replace(" ", "-"), n) for other, n in top]
