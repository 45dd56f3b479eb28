"""What a lexical search returns, on either backend."""

from __future__ import annotations

from dataclasses import dataclass


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
