"""PostgreSQL: lexical search over the stored weighted ``tsvector`` of migration 0006.

The same stages as on SQLite (``planner.py``) with one tsquery per term, ranked by ``ts_rank``
among the budget's newest matches found through the GIN index. Term counts are the planner's
estimates, not counts: the plan's choices are heuristics and results are always real matches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, not_, select, text
from sqlalchemy.orm import Session

from dailypapers.models import Paper
from dailypapers.search.lexical import planner
from dailypapers.search.lexical.filters import filter_clause
from dailypapers.search.lexical.protocol import ColumnWeights, LexicalHit
from dailypapers.search.lexical.snippets import (
    Snippet,
    Snippets,
    abstract_window,
    spans_to_fragments,
)
from dailypapers.search.lexical.terms import (
    PG_TEXT_CONFIG,
    WORD_TOKEN,
    match_terms,
    pg_document,
    tsquery,
)
from dailypapers.search.query import ParsedQuery, Term

# Marked words separated by at most this many non-word characters show as one mark, as
# FTS5 marks a phrase: "Mobile-Agent-v3.5", not "Mobile"-"Agent"-"v3"."5".
MARK_JOIN_GAP = 2


class PostgresIndex:
    """The PostgreSQL implementation of ``LexicalIndex``."""

    def search(
        self, session: Session, parsed: ParsedQuery, limit: int, weights: ColumnWeights
    ) -> list[LexicalHit]:
        """Every required term (AND), then, when those are fewer than ``limit``, papers
        holding one of the rarest terms (ranked with the next-rarest too). A sentence's OR
        over all its words would match most of the store. ``weights`` are FTS5's: the stored
        document carries its own (title A, authors B, abstract C)."""
        terms = match_terms(parsed)
        plan = planner.plan_terms(session, terms, self.count_matches)
        stages: list[tuple[ColumnElement[Any], bool]] = []
        if len(terms) <= planner.AND_MAX_TERMS:
            stages.append((tsquery(plan.required, "&&"), True))
        if len(terms) > 1:
            rare = tsquery(plan.rare, "||")
            if plan.scoring:
                scoring = tsquery(plan.scoring, "||")
                stages.append((rare.op("&&")(scoring), False))
            stages.append((rare, False))
        hits: list[LexicalHit] = []
        for query, all_terms in stages:
            seen = {hit.paper_id for hit in hits}
            statement = postgres_statement(parsed, query).limit(limit + len(hits))
            rows = session.execute(statement).all()
            hits += [LexicalHit(r[0], float(r[1]), 0, all_terms) for r in rows if r[0] not in seen]
            if len(hits) >= limit:
                break
        return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:limit], start=1)]

    def count_matches(self, session: Session, terms: Sequence[Term], cap: int) -> list[int]:
        """PostgreSQL's estimate of each term's matches (``cap`` unused: an estimate costs
        the same at any size)."""
        return [_estimated_matches(session, term) for term in terms]

    def highlight(self, session: Session, rows: Sequence[Any], terms: Sequence[Term]) -> Snippets:
        """Mark the words whose lexeme is one of the query's; see ``_highlight``."""
        return _highlight(session, rows, terms)

    def matching(
        self, parsed: ParsedQuery, terms: Sequence[Term], where: ColumnElement[bool]
    ) -> Select[Any]:
        """Ids of papers matching every term, the filters and ``where``, best first."""
        document = pg_document()
        query = tsquery(terms, "&&")
        statement = select(Paper.id).where(
            where, document.bool_op("@@")(query), filter_clause(parsed.filters)
        )
        if parsed.excluded:
            statement = statement.where(
                not_(document.bool_op("@@")(tsquery(parsed.excluded, "||")))
            )
        return statement.order_by(func.ts_rank(document, query).desc())


def postgres_statement(parsed: ParsedQuery, query: ColumnElement[Any]) -> Select[Any]:
    """(id, ts_rank) of papers matching the tsquery ``query``, the filters and the exclusions,
    best first.

    As on SQLite, only the RANK_BUDGET most recently stored matches are ranked: the GIN index
    finds the matches cheaply, ranking every one of a common word's tens of thousands is not."""
    document = pg_document()
    matches = select(Paper.id).where(document.bool_op("@@")(query), filter_clause(parsed.filters))
    if parsed.excluded:
        matches = matches.where(not_(document.bool_op("@@")(tsquery(parsed.excluded, "||"))))
    candidates = matches.order_by(Paper.id.desc()).limit(planner.RANK_BUDGET).scalar_subquery()
    rank = func.ts_rank(document, query)
    return (
        select(Paper.id, rank)
        .where(Paper.id.in_(candidates))
        .order_by(rank.desc(), Paper.id.desc())
    )


def _estimated_matches(session: Session, term: Term) -> int:
    """The planner's estimate of a term's matches, from the tsvector column's statistics (most
    common lexemes and their frequencies, kept by ANALYZE): planning only. Counting instead
    reads every matching row from the heap, as a GIN index has no index-only scans."""
    statement: Select[Any] = (
        select(literal_column("1"))
        .select_from(Paper)
        .where(pg_document().bool_op("@@")(tsquery([term], "||")))
    )
    compiled = statement.compile(session.get_bind())
    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        .scalar_one()
    )
    document = plan if isinstance(plan, list) else json.loads(plan)
    return int(document[0]["Plan"]["Plan Rows"])


def _highlight(session: Session, rows: Sequence[Any], terms: Sequence[Term]) -> Snippets:
    """PostgreSQL: words are marked here, by comparing each word's lexeme with the query's
    (both from the search configuration). ``ts_headline`` would mark the text itself, but it
    drops anything its parser takes for an HTML tag ("<b>") and marks a hyphenated name part
    by part. ``rows``: (id, title, abstract) of the papers, as ``snippets`` read them."""
    words = sorted(
        {
            w.casefold()
            for _, title, abstract in rows
            for w in WORD_TOKEN.findall(f"{title} {abstract}")
        }
    )
    query_text = " ".join(term.text for term in terms)
    wanted = set(
        session.execute(
            select(
                func.unnest(func.tsvector_to_array(func.to_tsvector(PG_TEXT_CONFIG, query_text)))
            )
        ).scalars()
    )
    lexemes: dict[str, set[str]] = {}
    for start in range(0, len(words), 2000):
        chunk = words[start : start + 2000]
        for word, lexeme in session.execute(
            text(
                "SELECT w, unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), w)))"
                " FROM unnest(CAST(:words AS text[])) AS w"
            ),
            {"config": PG_TEXT_CONFIG, "words": chunk},
        ):
            lexemes.setdefault(word, set()).add(lexeme)

    def marked(value: str) -> list[tuple[int, int]]:
        """Spans of the matching words, neighbours joined."""
        spans: list[tuple[int, int]] = []
        for match in WORD_TOKEN.finditer(value):
            if not lexemes.get(match.group().casefold(), set()) & wanted:
                continue
            if (
                spans
                and match.start() - spans[-1][1] <= MARK_JOIN_GAP
                and not value[spans[-1][1] : match.start()].strip(".-–/:+")
            ):
                spans[-1] = (spans[-1][0], match.end())
            else:
                spans.append((match.start(), match.end()))
        return spans

    result: Snippets = {}
    for paper_id, title, abstract in rows:
        title_spans = marked(title)
        abstract_text, abstract_spans = abstract_window(abstract or "", marked(abstract or ""))
        if title_spans or abstract_spans:
            result[paper_id] = Snippet(
                spans_to_fragments(title, title_spans),
                spans_to_fragments(abstract_text, abstract_spans),
            )
    return result
