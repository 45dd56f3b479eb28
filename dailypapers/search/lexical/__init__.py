"""Lexical search: papers by their words, ranked by the index's own scoring (DESIGN.md §1).

One small protocol, two real implementations, chosen once per session by its database (as
``vectors.vector_index`` chooses a ``VectorIndex``): ``fts5.Fts5Index`` on SQLite,
``postgres.PostgresIndex`` on PostgreSQL. Around them: ``terms`` (which words a query searches
and how each index is asked for them, never as syntax), ``filters`` (a query's filters as SQL on
either database), ``planner`` (the search stages from each term's match count), ``snippets``
(marked titles and abstracts). The functions below are what the rest of the code calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.orm import Session

from dailypapers.models import Paper
from dailypapers.search.lexical import planner
from dailypapers.search.lexical.filters import allowed_clause
from dailypapers.search.lexical.fts5 import BM25_WEIGHTS, ColumnWeights, Fts5Index
from dailypapers.search.lexical.postgres import PostgresIndex
from dailypapers.search.lexical.results import LexicalHit
from dailypapers.search.lexical.snippets import (
    Fragment,
    Snippet,
    Snippets,
    opening,
    strip_markers,
)
from dailypapers.search.lexical.terms import MAX_QUERY_CHARS, match_terms
from dailypapers.search.query import ParsedQuery, Term, parse_query


class LexicalIndex(Protocol):
    """A database's full-text index, asked in the planner's stages."""

    def search(
        self, session: Session, parsed: ParsedQuery, limit: int, weights: ColumnWeights
    ) -> list[LexicalHit]:
        """Papers matching ``parsed`` (whose ``match_terms`` are not empty), best first."""
        ...

    def count_matches(self, session: Session, terms: Sequence[Term], cap: int) -> list[int]:
        """About how many papers each term matches, up to ``cap`` (the planner's input)."""
        ...

    def highlight(
        self, session: Session, rows: Sequence[Any], terms: Sequence[Term], result: Snippets
    ) -> Snippets:
        """``result`` with the snippets of the (id, title, abstract) ``rows`` marked."""
        ...

    def matching(
        self, parsed: ParsedQuery, terms: Sequence[Term], where: ColumnElement[bool]
    ) -> Select[Any]:
        """Ids of papers matching every term among those satisfying ``where``, best first."""
        ...


_FTS5 = Fts5Index()
_POSTGRES = PostgresIndex()


def lexical_index(session: Session) -> LexicalIndex:
    """The index of the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return _POSTGRES
    return _FTS5


def lexical_search(
    session: Session,
    parsed: ParsedQuery,
    *,
    limit: int,
    weights: ColumnWeights = BM25_WEIGHTS,
) -> list[LexicalHit]:
    """Papers matching ``parsed``, best first: every term (AND) first, then, when those are
    fewer than ``limit``, papers matching some of the rarest terms (``all_terms=False``).

    A query with filters but no words lists the filtered papers, newest first. An empty query
    (or one with only exclusions) finds nothing. Never raises on any parsed query.
    """
    if limit <= 0:
        return []
    terms = match_terms(parsed)
    if not terms:
        return _browse(session, parsed, limit) if parsed.filters.active else []
    return lexical_index(session).search(session, parsed, limit, weights)


def term_rarity(session: Session, terms: Sequence[Term]) -> list[float]:
    """Each term's inverse document frequency as bm25 weighs it (see ``planner.term_rarity``),
    from the counts the search itself made."""
    return planner.term_rarity(session, terms, lexical_index(session).count_matches)


def snippets(session: Session, paper_ids: Iterable[int], parsed: ParsedQuery) -> dict[int, Snippet]:
    """Title and abstract snippet of each paper with the query's terms marked. Papers the
    terms do not match (found by meaning only) get their title and the abstract's opening."""
    ids = list(dict.fromkeys(paper_ids))
    if not ids:
        return {}
    result: dict[int, Snippet] = {}
    rows = session.execute(
        select(Paper.id, Paper.title, Paper.abstract).where(Paper.id.in_(ids))
    ).all()
    for paper_id, title, abstract in rows:
        result[paper_id] = Snippet(
            (Fragment(strip_markers(title)),), (Fragment(opening(abstract or "")),)
        )
    terms = match_terms(parsed)
    if not terms or not result:
        return result
    return lexical_index(session).highlight(session, rows, terms, result)


def matching(session: Session, query: str, where: ColumnElement[bool]) -> Select[Any]:
    """Ids of papers matching every term of ``query`` (a stored digest topic, parsed leniently:
    its filters apply too) among those satisfying ``where``, best match first.

    An empty or word-less query matches nothing (the caller decides what "no topic" means)."""
    parsed = parse_query(query[:MAX_QUERY_CHARS], lenient=True)
    terms = match_terms(parsed)
    if not terms:
        return select(Paper.id).where(text("0 = 1"))
    return lexical_index(session).matching(parsed, terms, where)


def _browse(session: Session, parsed: ParsedQuery, limit: int) -> list[LexicalHit]:
    """Filtered papers without words: newest first (the listing-date index makes it cheap)."""
    statement = select(Paper.id).where(allowed_clause(parsed))
    newest: Any = Paper.listing_date
    if parsed.filters.authors or parsed.filters.orgs:
        # Those pick few papers: look them up and sort them, rather than walk the listing-date
        # index through the store until enough turn up.
        newest = func.coalesce(Paper.listing_date, dt.date.min)
    statement = statement.order_by(newest.desc().nulls_last(), Paper.id.desc()).limit(limit)
    return [
        LexicalHit(paper_id, 0.0, rank)
        for rank, paper_id in enumerate(session.scalars(statement), start=1)
    ]
