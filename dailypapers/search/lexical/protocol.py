"""What a lexical index is asked and what it answers, the same on every backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from dailypapers.search.lexical.snippets import Snippets
from dailypapers.search.query import ParsedQuery, Term


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """One result. ``score`` is ``-bm25`` on SQLite, ``ts_rank`` on PostgreSQL (higher is
    better), comparable only among hits with the same ``all_terms``: ``True`` for papers
    matching every term (AND, or a filter-only browse where ``score`` is 0), ``False`` for the
    OR fallback. ``rank`` counts from 1."""

    paper_id: int
    score: float
    rank: int
    all_terms: bool = True


class ColumnWeights(NamedTuple):
    """bm25 weights of the FTS5 columns, in the table's column order (migration 0001).
    PostgreSQL's stored document carries its own weights (title A, authors B, abstract C)."""

    title: float
    abstract: float
    authors: float


# Chosen on the tuning half (docs/benchmarks.md). Authors weigh like the title: a name there is
# as telling.
BM25_WEIGHTS = ColumnWeights(title=1.5, abstract=1.0, authors=1.5)


class LexicalIndex(Protocol):
    """A database's full-text index. Callers have already dropped the queries without terms
    (``terms`` and ``match_terms(parsed)`` are never empty here)."""

    def search(
        self, session: Session, parsed: ParsedQuery, limit: int, weights: ColumnWeights
    ) -> list[LexicalHit]:
        """Papers matching ``parsed``, best first, in the planner's stages (``planner.py``)."""
        ...

    def count_matches(self, session: Session, terms: Sequence[Term], cap: int) -> list[int]:
        """About how many papers each term matches, up to ``cap`` (the planner's input)."""
        ...

    def highlight(self, session: Session, rows: Sequence[Any], terms: Sequence[Term]) -> Snippets:
        """Marked snippets of those (id, title, abstract) ``rows`` that the terms match."""
        ...

    def matching(
        self, parsed: ParsedQuery, terms: Sequence[Term], where: ColumnElement[bool]
    ) -> Select[Any]:
        """Ids of papers matching every term and the filters among those satisfying
        ``where``, best first (digest topics)."""
        ...
