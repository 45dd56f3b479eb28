"""Lexical search over the FTS5 index written with each paper (DESIGN.md §1).

User text never reaches FTS5 syntax: every term of a :class:`~dailypapers.search.query.
ParsedQuery` is passed as an FTS5 string (``"..."``, inner quotes doubled), which the index's
own tokenizer splits, so ``AND``, ``NEAR(``, ``*``, ``:``, ``^`` or brackets are plain words and
``V-GRPO`` or ``Mobile-Agent-v3.5`` become the phrases ``v grpo`` and ``mobile agent v3 5`` —
exactly how their titles were indexed. Terms with no letter or digit are dropped (an empty FTS5
phrase would make an AND match nothing).

Ranking cost, measured on the 75k-paper bench store: FTS5 iterates matches fast (~0.05 µs a
row for a term) but ``bm25()`` costs ~1 µs per ranked row and first counts every match of every
phrase it scores (for IDF, ~0.06 µs each), so a plain OR over a sentence ranks most of the store
(~180 ms CPU). So (all constants below, measured on the evaluation's tuning half):

1. AND of the terms: English stop words dropped (unless the query is nothing else; phrases are
   kept whole) and so are *common* terms, matching a quarter of the store (Elasticsearch's
   ``cutoff_frequency`` idea: "model" would add ~4 ms for an IDF near zero). When more than
   :data:`RANK_BUDGET` papers match (generic queries: "large language models" matches 24k),
   only the most recently stored :data:`RANK_BUDGET` are ranked — on a daily-papers site the
   newest are the useful ones. Queries of more than :data:`AND_MAX_TERMS` terms (sentences)
   skip this stage.
2. Only when AND finds fewer than ``limit`` papers, an OR fallback: the candidates are the
   papers holding one of the rarest terms, together matching at most :data:`OR_DF_BUDGET`
   papers; they are ranked by bm25 over those terms *and* the next-rarest ones (up to
   :data:`OR_SCORE_DF_BUDGET` matches in all), which only add to the score. Papers holding a
   rare term but none of the scoring ones follow, ranked by the rare terms alone.

Term match counts (capped at the common threshold) are cached per process for a while. When the
counts prove a stage matches at most RANK_BUDGET papers, it is ranked in one pass.

Non-Latin scripts: unicode61 splits on spaces and punctuation only, so a run of CJK characters
is one token. A CJK term is matched as a token prefix (``"语言模型" *``): a query equal to or
starting a stored run finds it; a word inside a run does not (that needs a trigram index —
another FTS table — which this module does not add). LaTeX such as ``$\\alpha$`` is tokenized
like the stored abstracts (``alpha``), so it matches them.

PostgreSQL (until its issue adds a stored ``tsvector``): the same terms as ``phraseto_tsquery``
per term, AND then OR, ranked by ``ts_rank`` over a weighted document computed per row.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from markupsafe import Markup, escape
from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from dailypapers import hf_names
from dailypapers.models import DailyEntry, Org, Paper
from dailypapers.search.query import (
    CJK,
    Filters,
    ParsedQuery,
    Term,
    parse_query,
    without_authors,
)

# Longest digest topic kept (subscriptions refuse longer ones); search queries have their own
# limit in query.MAX_QUERY_CHARS.
MAX_QUERY_CHARS = 300


class ColumnWeights(NamedTuple):
    """bm25 weights of the FTS5 columns, in the table's column order (migration 0001)."""

    title: float
    abstract: float
    authors: float


# Measured on the tuning half (MRR@10 name / paraphrase / summary queries): title 1.5 →
# .928/.800/.980, 2 → .929/.789/.979, 4 → .924/.774/.978, 1 → .924/.807/.980 (paraphrases
# avoid title words by construction). Authors weigh like the title: a name there is as telling.
BM25_WEIGHTS = ColumnWeights(title=1.5, abstract=1.0, authors=1.5)
# Most matches ranked by bm25 per stage (~1 µs each); beyond it, the newest stored are ranked.
RANK_BUDGET = 4000
# Longer queries (sentences) skip the AND stage: it seldom matches them and finds nothing the
# OR stage does not (same MRR), for ~3 ms of doclist merging.
AND_MAX_TERMS = 8
# The OR fallback's candidates: papers holding one of the rarest terms, which together match at
# most this many papers (the known paper is among them for >99% of summary sentences) ...
OR_DF_BUDGET = 2000
# ... and are at most this many terms.
OR_MAX_TERMS = 8
# ... scored with the next-rarest terms too, up to this many matches in all. Summary MRR@10 /
# CPU p50: 30k .967 / 5.3 ms, 60k .978 / 6.3 ms, unlimited .980 / 8.8 ms; a plain OR of every
# word .995 / ~180 ms. (OR_DF_BUDGET 4000 with 60k: .984 / 8.3 ms.)
OR_SCORE_DF_BUDGET = 60_000
# A term matching at least this share of the store (and COMMON_MIN_DF papers) is "common":
# left out of the AND (as Elasticsearch's cutoff_frequency does) and never scored, because
# bm25() first counts every match of every term it scores (~0.06 µs each: "model", in 61k
# papers, adds ~4 ms to any query) for an IDF near zero. Counting stops there too.
COMMON_FRACTION = 0.25
COMMON_MIN_DF = 1000
DF_CACHE_SECONDS = 600.0
DF_CACHE_ENTRIES = 20_000
# Extra rows fetched so that a few hidden papers among the best do not shorten a page.
HIDDEN_SLACK = 10
# Abstract snippet length in tokens (FTS5 allows at most 64).
SNIPPET_TOKENS = 40
SNIPPET_FALLBACK_WORDS = 40

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
_FTS_TOKEN = re.compile(r"[^\W_]+")
# Highlight markers: private-use characters, replaced by <mark> after HTML escaping.
_OPEN, _CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """One result. ``score`` is ``-bm25`` (higher is better), comparable only among hits with
    the same ``all_terms``: ``True`` for papers matching every term (AND, or a filter-only
    browse where ``score`` is 0), ``False`` for the OR fallback. ``rank`` counts from 1."""

    paper_id: int
    score: float
    rank: int
    all_terms: bool = True


@dataclass(frozen=True, slots=True)
class Fragment:
    text: str
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class Snippet:
    """A paper's title and a piece of its abstract, split into plain and matching fragments."""

    title: tuple[Fragment, ...]
    abstract: tuple[Fragment, ...]

    @property
    def title_html(self) -> Markup:
        return _html(self.title)

    @property
    def abstract_html(self) -> Markup:
        return _html(self.abstract)


def _html(fragments: Iterable[Fragment]) -> Markup:
    """Escaped text with ``<mark>`` around matches: safe to render as is."""
    return Markup("").join(
        Markup("<mark>{}</mark>").format(f.text) if f.highlighted else escape(f.text)
        for f in fragments
    )


# --- FTS5 expressions ---------------------------------------------------------------------


def _fts_string(words: Sequence[str]) -> str:
    """An FTS5 string: its tokenizer splits it, so nothing inside is syntax."""
    body = " ".join(words).replace('"', '""').replace("\x00", " ")
    return f'"{body}"'


def _fts_term(term: Term) -> str:
    quoted = _fts_string(term.words)
    # A CJK run is one token (unicode61 does not segment it): match stored runs it starts.
    return f"{quoted} *" if CJK.search(term.text) else quoted


def _is_stopword(term: Term) -> bool:
    if term.phrase:
        return False
    tokens = _FTS_TOKEN.findall(term.text.casefold())
    return bool(tokens) and all(token in STOPWORDS for token in tokens)


def match_terms(parsed: ParsedQuery) -> list[Term]:
    """The positive terms searched for: distinct, stop words dropped unless nothing else."""
    distinct: dict[str, Term] = {}
    for term in parsed.positive:
        distinct.setdefault(" ".join(_FTS_TOKEN.findall(term.text.casefold())), term)
    terms = list(distinct.values())
    content = [term for term in terms if not _is_stopword(term)]
    return content or terms


def _joined(terms: Sequence[Term], operator: str) -> str:
    return "(" + f" {operator} ".join(_fts_term(t) for t in terms) + ")"


def _expression(core: str, parsed: ParsedQuery) -> str:
    """``core`` (terms joined by AND/OR), then the author filters and the exclusions."""
    expression = core
    for name in parsed.filters.authors:
        expression += " AND {authors_text}: " + _fts_string(name.split())
    excluded = [_fts_term(t) for t in parsed.excluded]
    if excluded:
        expression = f"({expression}) NOT ({' OR '.join(excluded)})"
    return expression


def _authors_expression(authors: Sequence[str]) -> str:
    return " AND ".join("{authors_text}: " + _fts_string(name.split()) for name in authors)


def fts5_expression(query: str) -> str | None:
    """The FTS5 MATCH string (AND of the terms, author filters, exclusions) for a stored query
    such as a digest topic, or None when it holds no word to search for."""
    parsed = parse_query(query[:MAX_QUERY_CHARS], lenient=True)
    terms = match_terms(parsed)
    if not terms:
        return None
    return _expression(_joined(terms, "AND"), parsed)


# --- filters ------------------------------------------------------------------------------


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


def _paper_conditions(filters: Filters, paper: Any) -> list[ColumnElement[bool]]:
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


def _needs_paper_row(filters: Filters) -> bool:
    return bool(filters.categories or filters.date_from or filters.date_to or filters.has_code)


def _org_condition(orgs: Sequence[str], paper_id: Any) -> ColumnElement[bool]:
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
    and accent blind; a LIKE over 180k author names took ~100 ms)."""
    fts_ids = select(PAPERS_FTS.c.rowid).where(
        PAPERS_FTS.c.papers_fts.op("MATCH")(_authors_expression(authors))
    )
    sqlite = paper_id.in_(fts_ids)
    # PostgreSQL: the phrase among the document's authors lexemes (weight B), found through
    # the GIN index like any term, so accents and case fold as in search.
    document = _pg_document()
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
    conditions = _paper_conditions(filters, Paper)
    if filters.orgs:
        conditions.append(_org_condition(filters.orgs, Paper.id))
    if filters.authors:
        conditions.append(_authors_condition(filters.authors, Paper.id))
    return and_(*conditions)


def allowed_clause(parsed: ParsedQuery) -> ColumnElement[bool]:
    """What a query permits besides its words: its filters and its ``-word`` exclusions, as one
    condition on :class:`Paper` (the dense branch keeps only the neighbours that satisfy it)."""
    clause = filter_clause(parsed.filters)
    if parsed.excluded:
        clause = and_(clause, not_(_matches_any(parsed.excluded, Paper.id)))
    return clause


# --- search -------------------------------------------------------------------------------


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
    if session.get_bind().dialect.name == "postgresql":
        return _postgres_search(session, parsed, terms, limit)
    plan = plan_terms(session, terms)
    hits: list[LexicalHit] = []
    if len(terms) <= AND_MAX_TERMS:
        core = _joined(plan.required, "AND")
        hits = _ranked(
            session,
            _expression(core, parsed),
            parsed.filters,
            limit,
            weights,
            bounded=plan.and_bounded,
        )
    if len(hits) < limit and len(terms) > 1:
        cores = [_joined(plan.rare, "OR")]
        if plan.scoring:
            # Candidates hold a rare term; the next-rarest terms only add to their score.
            # Papers holding none of those come after, from the rare terms alone.
            cores.insert(0, f"{_joined(plan.rare, 'OR')} AND {_joined(plan.scoring, 'OR')}")
        for core in cores:
            seen = {hit.paper_id for hit in hits}
            extra = _ranked(
                session,
                _expression(core, parsed),
                parsed.filters,
                limit + len(hits),
                weights,
                bounded=plan.rare_bounded,
            )
            hits += [replace(h, all_terms=False) for h in extra if h.paper_id not in seen]
            if len(hits) >= limit:
                break
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:limit], start=1)]


def _matching_ids(expression: str, filters: Filters, fts: Any, paper: Any) -> Select[Any]:
    """rowids of papers matching the FTS expression and the filters (authors are already in
    the expression). The papers row is joined only when a filter needs it (~1.5 µs a match)."""
    statement = select(fts.c.rowid).where(fts.c.papers_fts.op("MATCH")(expression))
    if _needs_paper_row(filters):
        statement = statement.join(paper, paper.id == fts.c.rowid).where(
            *_paper_conditions(filters, paper)
        )
    if filters.orgs:
        statement = statement.where(_org_condition(filters.orgs, fts.c.rowid))
    return statement


def _candidates(expression: str, filters: Filters, *, bounded: bool) -> Select[Any]:
    """The matches to rank: all of them, or the RANK_BUDGET most recently stored.

    :param bounded: the term counts prove there are at most RANK_BUDGET matches, so the
        budget's floor (a second pass over the matches) is skipped."""
    match = PAPERS_FTS.c.papers_fts.op("MATCH")(expression)
    if bounded:
        return _matching_ids(expression, filters, PAPERS_FTS, Paper)
    if _needs_paper_row(filters):
        # Join each match to its paper row once: the filtered rowids are materialized, then
        # both the budget's floor and the ranking scan read them (measured 15 ms instead of
        # 31 ms for "agents cat:cs.CL from:2026-02"). "+ 0" keeps SQLite from turning the IN
        # into one FTS5 query per rowid (56 ms).
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
            .offset(RANK_BUDGET)
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
            .offset(RANK_BUDGET)
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


def _browse(session: Session, parsed: ParsedQuery, limit: int) -> list[LexicalHit]:
    """Filtered papers without words: newest first (the listing-date index makes it cheap)."""
    statement = select(Paper.id).where(allowed_clause(parsed))
    newest: Any = Paper.listing_date
    if parsed.filters.authors or parsed.filters.orgs:
        # Those pick few papers: look them up and sort them, rather than walk the listing-date
        # index through the store until enough turn up (12 ms → 1 ms for author:lecun).
        newest = func.coalesce(Paper.listing_date, dt.date.min)
    statement = statement.order_by(newest.desc().nulls_last(), Paper.id.desc()).limit(limit)
    return [
        LexicalHit(paper_id, 0.0, rank)
        for rank, paper_id in enumerate(session.scalars(statement), start=1)
    ]


def _matches_any(terms: Sequence[Term], paper_id: Any) -> ColumnElement[bool]:
    expression = " OR ".join(_fts_term(t) for t in terms)
    sqlite = paper_id.in_(
        select(PAPERS_FTS.c.rowid).where(PAPERS_FTS.c.papers_fts.op("MATCH")(expression))
    )
    return _PerDialect(sqlite, _pg_document().bool_op("@@")(_pg_query(terms, "||")))


# --- the OR fallback's terms --------------------------------------------------------------


class _TermStatistics:
    """Per-term match counts (capped at the "common" threshold) and the store's size, kept per
    database for a while: rarity changes slowly, and a sentence query would otherwise count a
    dozen doclists each time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._sizes: dict[str, tuple[int, float]] = {}

    def common_threshold(self, session: Session) -> int:
        """Matches from which a term is common: COMMON_FRACTION of the store, at least
        COMMON_MIN_DF (so a small store has no common terms)."""
        return max(COMMON_MIN_DF, int(COMMON_FRACTION * self.store_size(session)))

    def store_size(self, session: Session) -> int:
        """About how many papers the store holds (cached like the counts)."""
        database = _database_key(session)
        now = time.monotonic()
        with self._lock:
            entry = self._sizes.get(database)
        if entry is None or now - entry[1] >= DF_CACHE_SECONDS:
            # The largest id stands in for the count: free, and deletions are rare.
            size = session.execute(select(func.max(Paper.id))).scalar_one_or_none() or 0
            entry = (size, now)
            with self._lock:
                self._sizes[database] = entry
        return entry[0]

    def counts(
        self, session: Session, keys: Sequence[str], count: Callable[[list[str]], list[int]]
    ) -> dict[str, int]:
        """Match counts of the terms with these index strings: cached ones, and ``count``
        of the others (one call for all of them)."""
        database = _database_key(session)
        now = time.monotonic()
        found: dict[str, int] = {}
        with self._lock:
            for key in keys:
                entry = self._counts.get((database, key))
                if entry is not None and now - entry[1] < DF_CACHE_SECONDS:
                    found[key] = entry[0]
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            counted = count(missing)
            with self._lock:
                for key, number in zip(missing, counted, strict=True):
                    found[key] = int(number)
                    self._counts[(database, key)] = (int(number), now)
                    self._counts.move_to_end((database, key))
                while len(self._counts) > DF_CACHE_ENTRIES:
                    self._counts.popitem(last=False)
        return found


def _database_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


_statistics = _TermStatistics()


def _fts_match_counts(session: Session, strings: list[str], cap: int) -> list[int]:
    """Matches of each FTS5 string up to ``cap``, in one statement (doclist reads)."""
    row = session.execute(
        select(
            *(
                select(func.count())
                .select_from(
                    select(literal_column("1"))
                    .select_from(PAPERS_FTS)
                    .where(PAPERS_FTS.c.papers_fts.op("MATCH")(string))
                    .limit(cap)
                    .subquery()
                )
                .scalar_subquery()
                for string in strings
            )
        )
    ).one()
    return [int(value) for value in row]


def _pg_estimated_matches(session: Session, term: Term) -> int:
    """PostgreSQL's own estimate of a term's matches, from the tsvector column's statistics
    (most common lexemes and their frequencies, kept by ANALYZE): planning only, well under
    a millisecond. Counting instead reads every matching row from the heap (a GIN index has
    no index-only scans): 50-100 ms for a common word at 75k papers. The plan's choices are
    heuristics and results are always real matches, so an estimate serves."""
    statement: Select[Any] = (
        select(literal_column("1"))
        .select_from(Paper)
        .where(_pg_document().bool_op("@@")(_pg_query([term], "||")))
    )
    compiled = statement.compile(session.get_bind())
    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        .scalar_one()
    )
    document = plan if isinstance(plan, list) else json.loads(plan)
    return int(document[0]["Plan"]["Plan Rows"])


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which terms each stage uses (see the module docstring)."""

    required: list[Term]  # the AND stage's terms (common ones dropped, unless all are)
    rare: list[Term]  # the OR fallback's candidates
    scoring: list[Term]  # ... and the terms that only add to their score
    and_bounded: bool  # the counts prove the AND matches at most RANK_BUDGET papers
    rare_bounded: bool  # ... and so do the rare terms together


def _term_counts(session: Session, terms: Sequence[Term], threshold: int) -> dict[str, int]:
    """Papers matching each term (by its index string), counted up to ``threshold`` on
    SQLite, estimated on PostgreSQL; cached for DF_CACHE_SECONDS."""
    strings = [_fts_term(t) for t in terms]
    if session.get_bind().dialect.name == "postgresql":
        by_string = dict(zip(strings, terms, strict=True))

        def count_matches(missing: list[str]) -> list[int]:
            return [_pg_estimated_matches(session, by_string[key]) for key in missing]

    else:

        def count_matches(missing: list[str]) -> list[int]:
            return _fts_match_counts(session, missing, threshold)

    return _statistics.counts(session, strings, count_matches)


def term_rarity(session: Session, terms: Sequence[Term]) -> list[float]:
    """Each term's inverse document frequency, as bm25 weighs it: ln(1 + (N - n + 0.5) /
    (n + 0.5)) for a term in n of N papers. Reads the counts the search itself made (cached);
    a common term (in at least the "common" threshold of papers) gets the threshold's rarity:
    counting further would read its whole doclist, and both backends cap alike."""
    threshold = _statistics.common_threshold(session)
    size = max(_statistics.store_size(session), 1)
    counts = _term_counts(session, terms, threshold)
    rarity = []
    for term in terms:
        matches = min(counts[_fts_term(term)], threshold, size)
        rarity.append(math.log(1 + (size - matches + 0.5) / (matches + 0.5)))
    return rarity


def plan_terms(session: Session, terms: Sequence[Term]) -> _Plan:
    """Split the terms by how many papers they match."""
    threshold = _statistics.common_threshold(session)
    strings = [_fts_term(t) for t in terms]
    counts = _term_counts(session, terms, threshold)
    ordered = sorted(zip(terms, strings, strict=True), key=lambda pair: counts[pair[1]])
    required = [t for t, string in zip(terms, strings, strict=True) if counts[string] < threshold]
    rare: list[Term] = []
    total = 0
    for term, string in ordered[:OR_MAX_TERMS]:
        if rare and total + counts[string] > OR_DF_BUDGET:
            break
        rare.append(term)
        total += counts[string]
    scoring: list[Term] = []
    total = 0
    for term, string in ordered[len(rare) :]:
        count = counts[string]
        if count >= threshold or total + count > OR_SCORE_DF_BUDGET:
            break
        scoring.append(term)
        total += count

    # Counts below the threshold are exact on SQLite (PostgreSQL's estimates only steer its
    # stages; the bounds below are read by the SQLite path alone). An AND matches at most its
    # rarest term's papers.
    exact = [counts[_fts_term(t)] for t in rare]
    required = required or list(terms)
    return _Plan(
        required,
        rare,
        scoring,
        and_bounded=any(
            counts[_fts_term(t)] < threshold and counts[_fts_term(t)] <= RANK_BUDGET
            for t in required
        ),
        rare_bounded=all(c < threshold for c in exact) and sum(exact) <= RANK_BUDGET,
    )


# --- PostgreSQL ---------------------------------------------------------------------------


# English stemming without a stopword list (migration 0006), like the FTS5 index.
PG_TEXT_CONFIG = "dailypapers_english"


def _pg_document() -> ColumnElement[Any]:
    """The stored weighted tsvector (migration 0006): title A, authors B, abstract C."""
    return literal_column("papers.search_document", type_=TSVECTOR)


def _pg_term_query(term: Term) -> ColumnElement[Any]:
    """A term as a tsquery: a phrase; a CJK run (the parser keeps one as a single lexeme)
    also finds the longer runs it begins, as FTS5 finds a stored run by its start."""
    if CJK.search(term.text) and len(term.text.split()) == 1:
        prefix = func.quote_literal(term.text).op("||")(literal_column("':*'"))
        return func.to_tsquery(PG_TEXT_CONFIG, prefix)
    return func.phraseto_tsquery(PG_TEXT_CONFIG, term.text)


def _pg_query(terms: Sequence[Term], operator: str) -> ColumnElement[Any]:
    """One tsquery per term (user text only ever a bound value), joined with ``&&`` (AND)
    or ``||`` (OR)."""
    query: ColumnElement[Any] = _pg_term_query(terms[0])
    for term in terms[1:]:
        query = query.op(operator)(_pg_term_query(term))
    return query


def postgres_statement(parsed: ParsedQuery, query: ColumnElement[Any]) -> Select[Any]:
    """(id, ts_rank) of papers matching the tsquery ``query``, the filters and the exclusions,
    best first.

    As on SQLite, only the RANK_BUDGET most recently stored matches are ranked: the GIN index
    finds the matches, and ranking every one of a common word's tens of thousands (OR-ranking
    every match measured 196 ms p50 on 75k papers) is what the budget avoids."""
    document = _pg_document()
    matches = select(Paper.id).where(document.bool_op("@@")(query), filter_clause(parsed.filters))
    if parsed.excluded:
        matches = matches.where(not_(document.bool_op("@@")(_pg_query(parsed.excluded, "||"))))
    candidates = matches.order_by(Paper.id.desc()).limit(RANK_BUDGET).scalar_subquery()
    rank = func.ts_rank(document, query)
    return (
        select(Paper.id, rank)
        .where(Paper.id.in_(candidates))
        .order_by(rank.desc(), Paper.id.desc())
    )


def _postgres_search(
    session: Session, parsed: ParsedQuery, terms: Sequence[Term], limit: int
) -> list[LexicalHit]:
    """The SQLite search's stages with tsqueries: every required term (AND), then, when
    those are fewer than ``limit``, papers holding one of the rarest terms (ranked with the
    next-rarest too). A sentence's OR over all its words would match most of the store."""
    plan = plan_terms(session, terms)
    stages: list[tuple[ColumnElement[Any], bool]] = []
    if len(terms) <= AND_MAX_TERMS:
        stages.append((_pg_query(plan.required, "&&"), True))
    if len(terms) > 1:
        rare = _pg_query(plan.rare, "||")
        if plan.scoring:
            scoring = _pg_query(plan.scoring, "||")
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


# --- snippets -----------------------------------------------------------------------------


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
            (Fragment(_strip_markers(title)),), (Fragment(_opening(abstract or "")),)
        )
    terms = match_terms(parsed)
    if not terms or not result:
        return result
    found = list(result)
    if session.get_bind().dialect.name == "postgresql":
        return _pg_snippets(session, rows, terms, result)
    expression = " OR ".join(_fts_term(t) for t in terms)
    highlighted = session.execute(
        text(
            "SELECT rowid, highlight(papers_fts, 0, :open, :close),"
            " snippet(papers_fts, 1, :open, :close, '…', :tokens)"
            " FROM papers_fts WHERE papers_fts MATCH :expression AND rowid IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {
            "open": _OPEN,
            "close": _CLOSE,
            "tokens": SNIPPET_TOKENS,
            "expression": expression,
            "ids": found,
        },
    )
    for paper_id, title, abstract in highlighted:
        result[paper_id] = Snippet(_fragments(title or ""), _fragments(abstract or ""))
    return result


# Marked words separated by at most this many non-word characters show as one mark, as
# FTS5 marks a phrase: "Mobile-Agent-v3.5", not "Mobile"-"Agent"-"v3"."5".
MARK_JOIN_GAP = 2


def _pg_snippets(
    session: Session,
    rows: Sequence[Any],
    terms: Sequence[Term],
    result: dict[int, Snippet],
) -> dict[int, Snippet]:
    """PostgreSQL: words are marked here, by comparing each word's lexeme with the query's
    (both from the search configuration). ``ts_headline`` would mark the text itself, but it
    drops anything its parser takes for an HTML tag ("<b>") and marks a hyphenated name part
    by part. ``rows``: (id, title, abstract) of the papers, as ``snippets`` read them."""
    words = sorted(
        {
            w.casefold()
            for _, title, abstract in rows
            for w in _FTS_TOKEN.findall(f"{title} {abstract}")
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
        for match in _FTS_TOKEN.finditer(value):
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

    for paper_id, title, abstract in rows:
        title_spans = marked(title)
        abstract_text, abstract_spans = _window(abstract or "", marked(abstract or ""))
        if title_spans or abstract_spans:
            result[paper_id] = Snippet(
                _spans_to_fragments(title, title_spans),
                _spans_to_fragments(abstract_text, abstract_spans),
            )
    return result


def _window(value: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """About SNIPPET_TOKENS words of ``value`` from a little before its first mark (the
    opening when nothing is marked), with "…" where it was cut; spans moved along."""
    if not spans:
        return _opening(value), []
    starts = [m.start() for m in _FTS_TOKEN.finditer(value)]
    first = max(0, next(i for i, s in enumerate(starts) if s >= spans[0][0]) - 3)
    begin = starts[first] if starts else 0
    last = first + SNIPPET_TOKENS
    end = starts[last] if last < len(starts) else len(value)
    prefix = "… " if begin > 0 else ""
    suffix = " …" if end < len(value) else ""
    shift = len(prefix) - begin
    cut = prefix + value[begin:end].rstrip() + suffix
    kept = [(a + shift, b + shift) for a, b in spans if a >= begin and b <= end]
    return cut, kept


def _spans_to_fragments(value: str, spans: list[tuple[int, int]]) -> tuple[Fragment, ...]:
    fragments: list[Fragment] = []
    position = 0
    for start, end in spans:
        if start > position:
            fragments.append(Fragment(value[position:start]))
        fragments.append(Fragment(value[start:end], True))
        position = end
    if position < len(value):
        fragments.append(Fragment(value[position:]))
    return tuple(fragments)


def _strip_markers(value: str) -> str:
    return value.replace(_OPEN, "").replace(_CLOSE, "")


def _opening(abstract: str) -> str:
    words = _strip_markers(abstract).split()
    cut = " ".join(words[:SNIPPET_FALLBACK_WORDS])
    return cut + " …" if len(words) > SNIPPET_FALLBACK_WORDS else cut


def _fragments(marked: str) -> tuple[Fragment, ...]:
    """Split highlighter output at the markers (a stray marker only moves a highlight)."""
    fragments: list[Fragment] = []
    for i, piece in enumerate(marked.split(_OPEN)):
        if i == 0:
            inside, rest = "", piece
        else:
            inside, _, rest = piece.partition(_CLOSE)
        if inside:
            fragments.append(Fragment(inside.replace(_CLOSE, ""), True))
        if rest:
            fragments.append(Fragment(rest.replace(_CLOSE, "")))
    return tuple(fragments)


# --- digests ------------------------------------------------------------------------------


def matching(session: Session, query: str, where: ColumnElement[bool]) -> Select[Any]:
    """Ids of papers matching every term of ``query`` (a stored topic, parsed leniently: its
    filters apply too) among those satisfying ``where``, best match first.

    An empty or word-less query matches nothing (the caller decides what "no topic" means)."""
    parsed = parse_query(query[:MAX_QUERY_CHARS], lenient=True)
    terms = match_terms(parsed)
    if not terms:
        return select(Paper.id).where(text("0 = 1"))
    if session.get_bind().dialect.name == "postgresql":
        document = _pg_document()
        tsquery = _pg_query(terms, "&&")
        statement = select(Paper.id).where(
            where, document.bool_op("@@")(tsquery), filter_clause(parsed.filters)
        )
        if parsed.excluded:
            statement = statement.where(
                not_(document.bool_op("@@")(_pg_query(parsed.excluded, "||")))
            )
        return statement.order_by(func.ts_rank(document, tsquery).desc())
    return (
        select(Paper.id)
        .join(PAPERS_FTS, PAPERS_FTS.c.rowid == Paper.id)
        .where(
            PAPERS_FTS.c.papers_fts.op("MATCH")(_expression(_joined(terms, "AND"), parsed)),
            where,
            filter_clause(without_authors(parsed.filters)),
        )
        .order_by(func.bm25(literal_column("papers_fts"), *BM25_WEIGHTS))
    )


__all__ = [
    "BM25_WEIGHTS",
    "ColumnWeights",
    "Fragment",
    "LexicalHit",
    "Snippet",
    "allowed_clause",
    "filter_clause",
    "fts5_expression",
    "lexical_search",
    "matching",
    "snippets",
]
