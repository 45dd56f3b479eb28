"""The terms a query searches for, and how each index is asked for them.

User text never reaches index syntax. For FTS5 every term is an FTS5 string (``"..."``, inner
quotes doubled) that the index's own tokenizer splits, so ``AND``, ``NEAR(``, ``*``, ``:``,
``^`` or brackets are plain words and ``V-GRPO`` becomes the phrase ``v grpo``, exactly as its
title was indexed. For PostgreSQL every term is a bound value given to ``phraseto_tsquery``.
Terms with no letter or digit are dropped: an empty phrase would make an AND match nothing.

unicode61 (FTS5) does not segment CJK text, so a run of CJK characters is one token; a CJK term
is matched as a token prefix on both backends (a query starting a stored run finds it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, column, func, literal_column, table
from sqlalchemy.dialects.postgresql import TSVECTOR

from dailypapers.search.query import CJK, ParsedQuery, Term, parse_query

# Longest digest topic kept (subscriptions refuse longer ones); search queries have their own
# limit in query.MAX_QUERY_CHARS.
MAX_QUERY_CHARS = 300

# Lucene's English stop words: dropped from the AND/OR terms unless the query is nothing else.
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
        "is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then",
        "there", "these", "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip

# The FTS5 table of migration 0001; its hidden column named like the table takes MATCH.
PAPERS_FTS = table("papers_fts", column("rowid"), column("papers_fts"))
WORD_TOKEN = re.compile(r"[^\W_]+")

# English stemming without a stopword list (migration 0006), like the FTS5 index.
PG_TEXT_CONFIG = "dailypapers_english"


def fts_string(words: Sequence[str]) -> str:
    """An FTS5 string: its tokenizer splits it, so nothing inside is syntax."""
    body = " ".join(words).replace('"', '""').replace("\x00", " ")
    return f'"{body}"'


def fts_term(term: Term) -> str:
    quoted = fts_string(term.words)
    # A CJK run is one token (unicode61 does not segment it): match stored runs it starts.
    return f"{quoted} *" if CJK.search(term.text) else quoted


def _is_stopword(term: Term) -> bool:
    if term.phrase:
        return False
    tokens = WORD_TOKEN.findall(term.text.casefold())
    return bool(tokens) and all(token in STOPWORDS for token in tokens)


def match_terms(parsed: ParsedQuery) -> list[Term]:
    """The positive terms searched for: distinct, stop words dropped unless nothing else."""
    distinct: dict[str, Term] = {}
    for term in parsed.positive:
        distinct.setdefault(" ".join(WORD_TOKEN.findall(term.text.casefold())), term)
    terms = list(distinct.values())
    content = [term for term in terms if not _is_stopword(term)]
    return content or terms


def joined(terms: Sequence[Term], operator: str) -> str:
    return "(" + f" {operator} ".join(fts_term(t) for t in terms) + ")"


def fts5_match(core: str, parsed: ParsedQuery) -> str:
    """``core`` (terms joined by AND/OR), then the author filters and the exclusions."""
    expression = core
    for name in parsed.filters.authors:
        expression += " AND {authors_text}: " + fts_string(name.split())
    excluded = [fts_term(t) for t in parsed.excluded]
    if excluded:
        expression = f"({expression}) NOT ({' OR '.join(excluded)})"
    return expression


def authors_expression(authors: Sequence[str]) -> str:
    return " AND ".join("{authors_text}: " + fts_string(name.split()) for name in authors)


def fts5_expression(query: str) -> str | None:
    """The FTS5 MATCH string (AND of the terms, author filters, exclusions) for a stored query
    such as a digest topic, or None when it holds no word to search for."""
    parsed = parse_query(query[:MAX_QUERY_CHARS], lenient=True)
    terms = match_terms(parsed)
    if not terms:
        return None
    return fts5_match(joined(terms, "AND"), parsed)


def pg_document() -> ColumnElement[Any]:
    """The stored weighted tsvector (migration 0006): title A, authors B, abstract C."""
    return literal_column("papers.search_document", type_=TSVECTOR)


def term_tsquery(term: Term) -> ColumnElement[Any]:
    """A term as a tsquery: a phrase; a CJK run (the parser keeps one as a single lexeme)
    also finds the longer runs it begins, as FTS5 finds a stored run by its start."""
    if CJK.search(term.text) and len(term.text.split()) == 1:
        prefix = func.quote_literal(term.text).op("||")(literal_column("':*'"))
        return func.to_tsquery(PG_TEXT_CONFIG, prefix)
    return func.phraseto_tsquery(PG_TEXT_CONFIG, term.text)


def tsquery(terms: Sequence[Term], operator: str) -> ColumnElement[Any]:
    """One tsquery per term (user text only ever a bound value), joined with ``&&`` (AND)
    or ``||`` (OR)."""
    query: ColumnElement[Any] = term_tsquery(terms[0])
    for term in terms[1:]:
        query = query.op(operator)(term_tsquery(term))
    return query
