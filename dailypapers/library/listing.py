"""The library page: a user's saved papers, sorted, filtered by collection, searched.

Search within the library speaks the language of ``/search`` (words, ``"phrases"``, ``-word``,
filters such as ``author:`` or ``cat:``, an arXiv id or paper URL), restricted to the user's
papers and matched by words: every word must be there, best match first (a library is small
enough to read whole, so no approximate stage is needed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from dailypapers.library import LibraryError
from dailypapers.models import CollectionPaper, Paper, Save, User
from dailypapers.papers import HIDDEN_PAPER_IDS, Paged, papers_in_order
from dailypapers.search.lexical import allowed_clause, match_terms, matching
from dailypapers.search.query import QueryError, parse_query

Sort = Literal["saved", "published", "upvotes", "relevance"]
SORTS: tuple[Sort, ...] = get_args(Sort)


@dataclass(frozen=True, slots=True)
class LibraryQuery:
    sort: Sort = "saved"
    collection_id: int | None = None  # already checked to be the user's (or public)
    q: str = ""


@dataclass(frozen=True, slots=True)
class LibraryItem:
    paper: Paper
    saved_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LibraryPage(Paged):
    items: list[LibraryItem]
    total: int
    page: int  # 0-based
    page_size: int
    sort: Sort


def _owned(user: User, collection_id: int | None) -> ColumnElement[bool]:
    """The user's saved papers (of one collection), visible on the site: a condition on
    ``saves`` alone, so the default sort walks its index and reads only the page's papers."""
    mine = and_(Save.user_id == user.id, Save.paper_id.not_in(HIDDEN_PAPER_IDS))
    if collection_id is not None:
        in_collection = select(CollectionPaper.paper_id).where(
            CollectionPaper.collection_id == collection_id
        )
        mine = and_(mine, Save.paper_id.in_(in_collection))
    return mine


def _order(sort: Sort) -> list[Any]:
    if sort == "published":
        return [Paper.published_at.desc().nulls_last(), Save.paper_id.desc()]
    if sort == "upvotes":
        return [(Paper.external_upvotes + Paper.local_upvotes).desc(), Save.saved_at.desc()]
    return [Save.saved_at.desc(), Save.paper_id.desc()]


def library_page(
    session: Session, user: User, query: LibraryQuery, *, page: int, page_size: int
) -> LibraryPage:
    """One page of the library. Raises LibraryError for a malformed search filter."""
    base: Select[Any] = select(Save.paper_id, Save.saved_at).where(  # type: ignore[assignment]
        _owned(user, query.collection_id)
    )
    sort = query.sort
    narrowed = joined = False  # searched or filtered; papers joined
    if query.q.strip():
        try:
            parsed = parse_query(query.q)
        except QueryError as exc:
            raise LibraryError(str(exc)) from None
        # An arXiv id or paper URL names one paper, pinned first as on /search.
        named = select(Paper.id).where(Paper.arxiv_id == parsed.arxiv_id)
        pinned = Save.paper_id.in_(named) if parsed.arxiv_id else None
        if match_terms(parsed):
            mine = select(Save.paper_id).where(Save.user_id == user.id)
            matched = matching(session, parsed, Paper.id.in_(mine))
            if sort == "relevance":
                saved: dict[int, dt.datetime] = dict(session.execute(base).all())
                ranked = [p for p in session.scalars(matched) if p in saved]
                if pinned is not None:
                    top = [p for p in session.scalars(named) if p in saved]
                    ranked = top + [p for p in ranked if p not in top]
                return _page(session, ranked, saved, page, page_size, sort)
            found = Save.paper_id.in_(matched.order_by(None))
            base = base.where(found if pinned is None else or_(pinned, found))
        else:
            base = base.join(Paper, Paper.id == Save.paper_id).where(allowed_clause(parsed))
            if pinned is not None:
                base = base.where(pinned)
            joined = True
        narrowed = True
    if sort == "relevance":
        sort = "saved"  # no words to be relevant to
    if sort != "saved" and not joined:
        base = base.join(Paper, Paper.id == Save.paper_id)
    ordered = base.order_by(*_order(sort)).limit(page_size).offset(page * page_size)
    if narrowed:
        # Count the matches in the page's own statement, so the search runs once.
        rows = session.execute(ordered.add_columns(func.count().over())).all()
        total = rows[0][2] if rows else _count(session, base)
        on_page = {paper_id: saved_at for paper_id, saved_at, _ in rows}
    else:
        total = _count(session, base)
        on_page = dict(session.execute(ordered).all())
    papers = papers_in_order(session, list(on_page))
    items = [LibraryItem(paper, on_page[paper.id]) for paper in papers]
    return LibraryPage(items, total, page, page_size, sort)


def _count(session: Session, statement: Select[Any]) -> int:
    return (
        session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    )


def _page(
    session: Session,
    ids: Sequence[int],
    saved: dict[int, dt.datetime],
    page: int,
    page_size: int,
    sort: Sort,
) -> LibraryPage:
    chunk = list(ids[page * page_size : (page + 1) * page_size])
    items = [LibraryItem(p, saved[p.id]) for p in papers_in_order(session, chunk)]
    return LibraryPage(items, len(ids), page, page_size, sort)


def library_paper_ids(session: Session, user: User, collection_id: int | None = None) -> list[int]:
    """Every visible saved paper (of a collection), newest save first: for exports."""
    statement = (
        select(Paper.id)
        .join(Save, Save.paper_id == Paper.id)
        .where(_owned(user, collection_id))
        .order_by(Save.saved_at.desc(), Save.paper_id.desc())
    )
    return list(session.scalars(statement))
