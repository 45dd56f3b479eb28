"""Lexical matching over the FTS5 index that is written with each paper (DESIGN.md §1).

User text never reaches FTS5 syntax: it is cut into words and quoted phrases, each quoted as an
FTS5 string, so ``AND``, ``NEAR(``, ``"``, ``*``, ``:`` or ``-`` in a query cannot raise or
change the meaning. Words must all match (AND): an OR over common words would rank half the
store. A leading ``-`` excludes a word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, select, table, text
from sqlalchemy.orm import Session

from dailypapers.models import Paper

# Longest query kept; a longer one is cut (a pasted abstract is not a topic).
MAX_QUERY_CHARS = 300
MAX_TERMS = 16
_TERM = re.compile(r'(-?)"([^"]*)"|(-?)([^\s"]+)')
_WORD = re.compile(r"\w+", re.UNICODE)
# The FTS5 table of migration 0001; its hidden column named like the table takes MATCH.
PAPERS_FTS = table("papers_fts", column("rowid"), column("papers_fts"))


def _quoted(words: Sequence[str]) -> str:
    return '"' + " ".join(words) + '"'


def fts5_expression(query: str) -> str | None:
    """The FTS5 MATCH string for a user query, or None when it holds no word at all."""
    positive: list[str] = []
    negative: list[str] = []
    for match in _TERM.finditer(query[:MAX_QUERY_CHARS]):
        excluded = bool(match[1] or match[3])
        words = _WORD.findall(match[2] if match[2] is not None else match[4])
        if not words:
            continue
        (negative if excluded else positive).append(_quoted(words))
        if len(positive) + len(negative) >= MAX_TERMS:
            break
    if not positive:
        return None
    expression = " AND ".join(positive)
    for term in negative:
        expression += f" NOT {term}"
    return expression


def matching(session: Session, query: str, where: ColumnElement[bool]) -> Select[Any]:
    """Ids of papers matching ``query`` among those satisfying ``where``, best match first.

    An empty or word-less query matches nothing (the caller decides what "no topic" means)."""
    expression = fts5_expression(query)
    if expression is None:
        return select(Paper.id).where(text("0 = 1"))
    if session.get_bind().dialect.name == "postgresql":
        # Until the PostgreSQL issue adds the stored tsvector, compute it per candidate row.
        document = func.to_tsvector("english", Paper.title + " " + Paper.abstract)
        tsquery = func.websearch_to_tsquery("english", query[:MAX_QUERY_CHARS])
        return (
            select(Paper.id)
            .where(where, document.op("@@")(tsquery))
            .order_by(func.ts_rank(document, tsquery).desc())
        )
    return (
        select(Paper.id)
        .join(PAPERS_FTS, PAPERS_FTS.c.rowid == Paper.id)
        .where(PAPERS_FTS.c.papers_fts.op("MATCH")(expression), where)
        # bm25 weights: title 4, abstract 1, authors 2 (FTS5 ranks lower = better).
        .order_by(text("bm25(papers_fts, 4.0, 1.0, 2.0)"))
    )
