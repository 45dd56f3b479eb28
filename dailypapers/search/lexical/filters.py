"""A query's filters as SQL on ``papers``, the same call on SQLite and PostgreSQL.

Where the two databases need different SQL (dates, author phrases, exclusions) the expression
carries both and the dialect picks one when the statement is compiled, so that callers such as
the vector branch (which lists the ids a filter permits) need not know the backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Text,
    and_,
    cast,
    func,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from dailypapers import hf_names
from dailypapers.models import DailyEntry, Org, Paper
from dailypapers.search.lexical.terms import (
    PAPERS_FTS,
    PG_TEXT_CONFIG,
    authors_expression,
    fts_term,
    pg_document,
    tsquery,
)
from dailypapers.search.query import Filters, ParsedQuery, Term


class _PerDialect(ColumnElement[Any]):
    """An expression written one way for SQLite and another for other databases (PostgreSQL),
    chosen when the statement is compiled, so callers need not know the dialect."""

    __visit_name__ = "per_dialect"
    inherit_cache = True
    # SQLAlchemy's cache key visits both branches (it declares this as a mutable list).
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("other", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], other: ColumnElement[Any]) -> None:
        self.sqlite = sqlite
        self.other = other
        self.type = sqlite.type
        # A condition stays a condition (no "= 1" appended on SQLite, which hides indexes).
        self._is_implicitly_boolean = sqlite._is_implicitly_boolean

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.sqlite._from_objects)


@compiles(_PerDialect)
def _compile_other(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.other, **kw)


@compiles(_PerDialect, "sqlite")
def _compile_sqlite(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.sqlite, **kw)


def _published_day(published_at: Any) -> ColumnElement[dt.date]:
    """The UTC publication day. SQLite keeps datetimes as text whose first ten characters are
    the UTC date (whatever the rest looks like); PostgreSQL has a timestamptz."""
    sqlite = func.substr(published_at, 1, 10, type_=Date)
    other = cast(func.timezone("UTC", published_at), Date)
    return _PerDialect(sqlite, other)


def _paper_day(paper: Any) -> ColumnElement[dt.date]:
    """The day a paper is dated by: its arXiv publication (UTC), else the day arXiv listed
    it, else its Daily Papers feed date (Hugging Face imports often carry only that)."""
    feed_date = (
        select(DailyEntry.feed_date).where(DailyEntry.paper_id == paper.id).scalar_subquery()
    )
    return func.coalesce(
        _published_day(paper.published_at), paper.listing_date, feed_date, type_=Date
    )


def _category_condition(categories: Sequence[str], paper: Any) -> ColumnElement[bool]:
    """Any of the categories, on the JSON list's text: ``"cs.CL"`` quoted as JSON writes it,
    ``cs`` also as the prefix ``"cs.``. Category values are validated (letters, ``.``, ``-``),
    so nothing in them is a LIKE wildcard; the same SQL runs on SQLite and PostgreSQL."""
    listed = cast(paper.categories, Text)
    options: list[ColumnElement[bool]] = []
    for category in categories:
        options.append(listed.like(f'%"{category}"%'))
        if "." not in category:
            options.append(listed.like(f'%"{category}.%'))
    return or_(*options)


def paper_conditions(filters: Filters, paper: Any) -> list[ColumnElement[bool]]:
    """Conditions on the paper row itself (hidden papers always excluded)."""
    conditions: list[ColumnElement[bool]] = [paper.hidden_at.is_(None)]
    if filters.categories:
        conditions.append(_category_condition(filters.categories, paper))
    if filters.date_from is not None or filters.date_to is not None:
        day = _paper_day(paper)
        if filters.date_from is not None:
            conditions.append(day >= filters.date_from)
        if filters.date_to is not None:
            conditions.append(day <= filters.date_to)
    if filters.has_code:
        conditions.append(and_(paper.github_repo.is_not(None), paper.github_repo != ""))
    return conditions


def needs_paper_row(filters: Filters) -> bool:
    return bool(filters.categories or filters.date_from or filters.date_to or filters.has_code)


def org_condition(orgs: Sequence[str], paper_id: Any) -> ColumnElement[bool]:
    """On the Daily Papers list for one of these organizations (name or full name, any case;
    an organization imported from Hugging Face by the name Hugging Face shows)."""
    wanted = [candidate.lower() for name in orgs for candidate in hf_names.candidates(name)]
    on_list = (
        select(DailyEntry.paper_id)
        .join(Org, Org.id == DailyEntry.organization_id)
        .where(or_(func.lower(Org.name).in_(wanted), func.lower(Org.fullname).in_(wanted)))
    )
    return paper_id.in_(on_list)  # type: ignore[no-any-return]


def _authors_condition(authors: Sequence[str], paper_id: Any) -> ColumnElement[bool]:
    """Every name among the authors, as a phrase in the lexical index's authors part (case
    and accent blind, and found through the index rather than a LIKE over every name)."""
    fts_ids = select(PAPERS_FTS.c.rowid).where(
        PAPERS_FTS.c.papers_fts.op("MATCH")(authors_expression(authors))
    )
    sqlite = paper_id.in_(fts_ids)
    # PostgreSQL: the phrase among the document's authors lexemes (weight B), found through
    # the GIN index like any term, so accents and case fold as in search.
    document = pg_document()
    conditions = []
    for name in authors:
        phrase = func.phraseto_tsquery(PG_TEXT_CONFIG, " ".join(name.split()))
        conditions += [
            document.bool_op("@@")(phrase),
            func.ts_filter(document, literal_column("'{b}'::\"char\"[]")).bool_op("@@")(phrase),
        ]
    other = paper_id.in_(select(Paper.id).where(*conditions))
    return _PerDialect(sqlite, other)


def filter_clause(filters: Filters) -> ColumnElement[bool]:
    """The filters as one condition on :class:`Paper` (hidden papers always excluded), for any
    statement selecting from ``papers`` (the vector branch uses it to list allowed ids)."""
    conditions = paper_conditions(filters, Paper)
    if filters.orgs:
        conditions.append(org_condition(filters.orgs, Paper.id))
    if filters.authors:
        conditions.append(_authors_condition(filters.authors, Paper.id))
    return and_(*conditions)


def allowed_clause(parsed: ParsedQuery) -> ColumnElement[bool]:
    """What a query permits besides its words: its filters and its ``-word`` exclusions, as one
    condition on :class:`Paper` (the dense branch keeps only the neighbours that satisfy it)."""
    clause = filter_clause(parsed.filters)
    if parsed.excluded:
        clause = and_(clause, not_(matches_any(parsed.excluded, Paper.id)))
    return clause


def matches_any(terms: Sequence[Term], paper_id: Any) -> ColumnElement[bool]:
    """The paper holds one of the terms (for exclusions)."""
    expression = " OR ".join(fts_term(t) for t in terms)
    sqlite = paper_id.in_(
        select(PAPERS_FTS.c.rowid).where(PAPERS_FTS.c.papers_fts.op("MATCH")(expression))
    )
    return _PerDialect(sqlite, pg_document().bool_op("@@")(tsquery(terms, "||")))
