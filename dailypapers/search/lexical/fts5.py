"""SQLite: lexical search over the FTS5 table of migration 0001, ranked by ``bm25()``.

The planner (``planner.py``) decides the stages; this module writes them as MATCH expressions,
keeps ranking to the budget's newest matches, and drops hidden papers only from the best rows
(never per match).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from dailypapers.models import Paper
from dailypapers.search.lexical import planner
from dailypapers.search.lexical.filters import (
    filter_clause,
    needs_paper_row,
    org_condition,
    paper_conditions,
)
from dailypapers.search.lexical.protocol import BM25_WEIGHTS, ColumnWeights, LexicalHit
from dailypapers.search.lexical.snippets import (
    MARK_CLOSE,
    MARK_OPEN,
    SNIPPET_TOKENS,
    Snippet,
    Snippets,
    marked_fragments,
)
from dailypapers.search.lexical.terms import PAPERS_FTS, fts5_match, fts_term, joined, match_terms
from dailypapers.search.query import Filters, ParsedQuery, Term, without_authors

# Extra rows fetched so that a few hidden papers among the best do not shorten a page.
HIDDEN_SLACK = 10


class Fts5Index:
    """The SQLite implementation of ``LexicalIndex``."""

    def search(
        self, session: Session, parsed: ParsedQuery, limit: int, weights: ColumnWeights
    ) -> list[LexicalHit]:
        """Every required term (AND), then, when those are fewer than ``limit``, papers
        holding one of the rarest terms (``all_terms=False``)."""
        terms = match_terms(parsed)
        plan = planner.plan_terms(session, terms, self.count_matches)
        hits: list[LexicalHit] = []
        if len(terms) <= planner.AND_MAX_TERMS:
            core = joined(plan.required, "AND")
            hits = _ranked(
                session,
                fts5_match(core, parsed),
                parsed.filters,
                limit,
                weights,
                bounded=plan.and_bounded,
            )
        if len(hits) < limit and len(terms) > 1:
            cores = [joined(plan.rare, "OR")]
            if plan.scoring:
                # Candidates hold a rare term; the next-rarest terms only add to their score.
                # Papers holding none of those come after, from the rare terms alone.
                cores.insert(0, f"{joined(plan.rare, 'OR')} AND {joined(plan.scoring, 'OR')}")
            for core in cores:
                seen = {hit.paper_id for hit in hits}
                extra = _ranked(
                    session,
                    fts5_match(core, parsed),
                    parsed.filters,
                    limit + len(hits),
                    weights,
                    bounded=plan.rare_bounded,
                )
                hits += [replace(h, all_terms=False) for h in extra if h.paper_id not in seen]
                if len(hits) >= limit:
                    break
        return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:limit], start=1)]

    def count_matches(self, session: Session, terms: Sequence[Term], cap: int) -> list[int]:
        """Matches of each term up to ``cap``, in one statement (doclist reads)."""
        row = session.execute(
            select(
                *(
                    select(func.count())
                    .select_from(
                        select(literal_column("1"))
                        .select_from(PAPERS_FTS)
                        .where(PAPERS_FTS.c.papers_fts.op("MATCH")(fts_term(term)))
                        .limit(cap)
                        .subquery()
                    )
                    .scalar_subquery()
                    for term in terms
                )
            )
        ).one()
        return [int(value) for value in row]

    def highlight(self, session: Session, rows: Sequence[Any], terms: Sequence[Term]) -> Snippets:
        """FTS5's ``highlight`` (title) and ``snippet`` (abstract) of the papers the terms
        match; ``rows``: (id, title, abstract)."""
        expression = " OR ".join(fts_term(t) for t in terms)
        highlighted = session.execute(
            text(
                "SELECT rowid, highlight(papers_fts, 0, :open, :close),"
                " snippet(papers_fts, 1, :open, :close, '…', :tokens)"
                " FROM papers_fts WHERE papers_fts MATCH :expression AND rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {
                "open": MARK_OPEN,
                "close": MARK_CLOSE,
                "tokens": SNIPPET_TOKENS,
                "expression": expression,
                "ids": [row[0] for row in rows],
            },
        )
        return {
            paper_id: Snippet(marked_fragments(title or ""), marked_fragments(abstract or ""))
            for paper_id, title, abstract in highlighted
        }

    def matching(
        self, parsed: ParsedQuery, terms: Sequence[Term], where: ColumnElement[bool]
    ) -> Select[Any]:
        """Ids of papers matching every term, the filters and ``where``, best first."""
        return (
            select(Paper.id)
            .join(PAPERS_FTS, PAPERS_FTS.c.rowid == Paper.id)
            .where(
                PAPERS_FTS.c.papers_fts.op("MATCH")(fts5_match(joined(terms, "AND"), parsed)),
                where,
                filter_clause(without_authors(parsed.filters)),
            )
            .order_by(func.bm25(literal_column("papers_fts"), *BM25_WEIGHTS))
        )


def _matching_ids(expression: str, filters: Filters, fts: Any, paper: Any) -> Select[Any]:
    """rowids of papers matching the FTS expression and the filters (authors are already in
    the expression). The papers row is joined only when a filter needs it: a join per match
    costs more than the match."""
    statement = select(fts.c.rowid).where(fts.c.papers_fts.op("MATCH")(expression))
    if needs_paper_row(filters):
        statement = statement.join(paper, paper.id == fts.c.rowid).where(
            *paper_conditions(filters, paper)
        )
    if filters.orgs:
        statement = statement.where(org_condition(filters.orgs, fts.c.rowid))
    return statement


def _candidates(expression: str, filters: Filters, *, bounded: bool) -> Select[Any]:
    """The matches to rank: all of them, or the RANK_BUDGET most recently stored.

    :param bounded: the term counts prove there are at most RANK_BUDGET matches, so the
        budget's floor (a second pass over the matches) is skipped."""
    match = PAPERS_FTS.c.papers_fts.op("MATCH")(expression)
    if bounded:
        return _matching_ids(expression, filters, PAPERS_FTS, Paper)
    if needs_paper_row(filters):
        # Join each match to its paper row once: the filtered rowids are materialized, then
        # both the budget's floor and the ranking scan read them, instead of joining twice.
        # "+ 0" keeps SQLite from turning the IN into one FTS5 query per rowid.
        allowed = (
            _matching_ids(
                expression,
                filters,
                PAPERS_FTS.alias("allowed_fts"),
                aliased(Paper, name="allowed_papers"),
            )
            .cte("allowed")
            .prefix_with("MATERIALIZED")
        )
        floor = (
            select(allowed.c.rowid)
            .order_by(allowed.c.rowid.desc())
            .limit(1)
            .offset(planner.RANK_BUDGET)
            .scalar_subquery()
        )
        statement = select(PAPERS_FTS.c.rowid).where(
            match, (PAPERS_FTS.c.rowid + 0).in_(select(allowed.c.rowid))
        )
    else:
        floor_fts = PAPERS_FTS.alias("floor_fts")
        floor = (
            _matching_ids(expression, filters, floor_fts, Paper)
            .order_by(floor_fts.c.rowid.desc())
            .limit(1)
            .offset(planner.RANK_BUDGET)
            .scalar_subquery()
        )
        statement = _matching_ids(expression, filters, PAPERS_FTS, Paper)
    # Only rowids from the RANK_BUDGET-th newest match on are ranked (none: rank them all).
    return statement.where(PAPERS_FTS.c.rowid >= func.coalesce(floor, 0))


def _ranked(
    session: Session,
    expression: str,
    filters: Filters,
    limit: int,
    weights: ColumnWeights,
    *,
    bounded: bool = False,
) -> list[LexicalHit]:
    """The best ``limit`` matches of ``expression`` by bm25, among at most RANK_BUDGET."""
    bm25 = func.bm25(literal_column("papers_fts"), *weights)
    candidates = _candidates(expression, filters, bounded=bounded).add_columns(bm25.label("bm25"))
    fetch = limit + HIDDEN_SLACK
    while True:
        best = candidates.order_by(bm25).limit(fetch).subquery("best")
        # Hidden papers are dropped here, on the few best rows, not per match.
        rows = session.execute(
            select(best.c.rowid, best.c.bm25, Paper.hidden_at.is_not(None))
            .join(Paper, Paper.id == best.c.rowid)
            .order_by(best.c.bm25, best.c.rowid.desc())
        ).all()
        hits = [LexicalHit(row[0], -float(row[1]), 0) for row in rows if not row[2]]
        if len(hits) >= limit or len(rows) < fetch:
            return hits[:limit]
        fetch *= 4
