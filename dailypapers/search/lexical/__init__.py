"""Lexical search: papers by their words, ranked by the database's own full-text index.

Two databases, two real indexes behind one small protocol (``protocol.LexicalIndex``), chosen
once, in :func:`lexical_index`, as ``vectors.vector_index`` chooses a ``VectorIndex``:
``fts5.Fts5Index`` (SQLite's FTS5 table, ``bm25()``) and ``postgres.PostgresIndex`` (the stored
weighted ``tsvector``, ``ts_rank``). What both share lives beside them: ``terms`` (which words a
query searches and how each index is asked for them, never as syntax), ``filters`` (a query's
filters as SQL on either database), ``planner`` (the search stages from each term's match
count, cached), ``snippets`` (marked titles and abstracts). Why the stages exist, and what
they cost, is in ``planner`` and docs/benchmarks.md. The rest of the code calls the functions
below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.orm import Session

from dailypapers.db import is_sqlite
from dailypapers.models import Paper
from dailypapers.search.lexical import planner
from dailypapers.search.lexical.filters import allowed_clause, filter_clause
from dailypapers.search.lexical.fts5 import Fts5Index
from dailypapers.search.lexical.postgres import PostgresIndex
from dailypapers.search.lexical.protocol import (
    BM25_WEIGHTS,
    ColumnWeights,
    LexicalHit,
    LexicalIndex,
)
from dailypapers.search.lexical.snippets import Fragment, Snippet, opening, strip_markers
from dailypapers.search.lexical.terms import (
    MAX_QUERY_CHARS,
    PG_TEXT_CONFIG,
    fts5_expression,
    match_terms,
)
from dailypapers.search.query import ParsedQuery, Term, parse_query

__all__ = [
    "BM25_WEIGHTS",
    "MAX_QUERY_CHARS",
    "PG_TEXT_CONFIG",
    "ColumnWeights",
    "Fragment",
    "LexicalHit",
    "LexicalIndex",
    "Snippet",
    "allowed_clause",
    "filter_clause",
    "fts5_expression",
    "lexical_index",
    "lexical_search",
    "match_terms",
    "matching",
    "searchable",
    "snippets",
    "term_rarity",
]

_FTS5 = Fts5Index()
_POSTGRES = PostgresIndex()


def lexical_index(session: Session) -> LexicalIndex:
    """The index of the session's database: the one place the backend is chosen."""
    return _FTS5 if is_sqlite(session) else _POSTGRES


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
    if terms and result:
        result.update(lexical_index(session).highlight(session, rows, terms))
    return result


def matching(session: Session, query: str | ParsedQuery, where: ColumnElement[bool]) -> Select[Any]:
    """Ids of papers matching every term of ``query`` (a stored digest topic, parsed leniently,
    or a parsed query: its filters apply too) among those satisfying ``where``, best match first.

    A query with filters but no words (``author:"X"``, ``cat:cs.CL``) matches the filtered
    papers, newest first, as ``/search`` lists them. An empty query, or one with only
    exclusions, matches nothing (the caller decides what "no topic" means)."""
    if isinstance(query, ParsedQuery):
        parsed, terms = query, match_terms(query)
    else:
        parsed, terms = _stored_query(query)
    if not terms:
        if not parsed.filters.active:
            return select(Paper.id).where(text("0 = 1"))
        return (
            select(Paper.id)
            .where(where, allowed_clause(parsed))
            .order_by(func.coalesce(Paper.listing_date, dt.date.min).desc(), Paper.id.desc())
        )
    return lexical_index(session).matching(parsed, terms, where)


def searchable(query: str) -> bool:
    """Whether a stored query (a digest topic, a followed search) selects papers: a word to
    search for, or a filter."""
    parsed, terms = _stored_query(query)
    return bool(terms) or parsed.filters.active


def _stored_query(query: str) -> tuple[ParsedQuery, list[Term]]:
    """A stored query parsed leniently (it was accepted once), and the terms it searches."""
    parsed = parse_query(query[:MAX_QUERY_CHARS], lenient=True)
    return parsed, match_terms(parsed)


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
