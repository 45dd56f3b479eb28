"""The term-count planner: which terms each search stage uses, from how many papers each matches.

``bm25()`` (and ``ts_rank``) cost per ranked row, and bm25 first counts every match of every
term it scores, so a plain OR over a sentence would rank most of the store. Hence two stages,
tuned on the evaluation's tuning half (docs/benchmarks.md, docs/search-eval.md):

1. AND of the terms, without *common* terms (matching a quarter of the store: Elasticsearch's
   ``cutoff_frequency`` idea, an IDF near zero for a full doclist read). When more than
   :data:`RANK_BUDGET` papers match, only the most recently stored are ranked: on a daily-papers
   site the newest are the useful ones. Sentences (more than :data:`AND_MAX_TERMS` terms) skip
   this stage; it seldom matches them.
2. Only when AND finds fewer than ``limit`` papers, an OR fallback: the candidates are the papers
   holding one of the rarest terms (together at most :data:`OR_DF_BUDGET` matches), ranked by
   those and the next-rarest terms (up to :data:`OR_SCORE_DF_BUDGET` matches), which only add to
   the score; papers holding none of the scoring terms follow, ranked by the rare ones alone.

Match counts (capped at the common threshold) are cached per process for a while: rarity changes
slowly, and a sentence would otherwise count a dozen doclists each time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.models import Paper
from dailypapers.search.lexical.terms import fts_term
from dailypapers.search.query import Term

# Most matches ranked per stage; beyond it, the newest stored are ranked. Backends read it as
# ``planner.RANK_BUDGET`` so that one setting (and a test's patch) governs both.
RANK_BUDGET = 4000
# Longer queries (sentences) skip the AND stage: it finds nothing the OR stage does not.
AND_MAX_TERMS = 8
# The OR fallback's candidates: papers holding one of the rarest terms, which together match at
# most this many papers ...
OR_DF_BUDGET = 2000
# ... and are at most this many terms ...
OR_MAX_TERMS = 8
# ... scored with the next-rarest terms too, up to this many matches in all.
OR_SCORE_DF_BUDGET = 60_000
# A term matching at least this share of the store (and COMMON_MIN_DF papers) is "common": left
# out of the AND and never scored, since bm25() would count its whole doclist for an IDF near
# zero. Counting stops there too.
COMMON_FRACTION = 0.25
COMMON_MIN_DF = 1000
DF_CACHE_SECONDS = 600.0
DF_CACHE_ENTRIES = 20_000

# How a backend counts matches: (session, terms, cap) -> matches of each term, up to cap.
MatchCounter = Callable[[Session, Sequence[Term], int], list[int]]


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


@dataclass(frozen=True, slots=True)
class Plan:
    """Which terms each stage uses (see the module docstring)."""

    required: list[Term]  # the AND stage's terms (common ones dropped, unless all are)
    rare: list[Term]  # the OR fallback's candidates
    scoring: list[Term]  # ... and the terms that only add to their score
    and_bounded: bool  # the counts prove the AND matches at most RANK_BUDGET papers
    rare_bounded: bool  # ... and so do the rare terms together


def _term_counts(
    session: Session, terms: Sequence[Term], threshold: int, count: MatchCounter
) -> dict[str, int]:
    """Papers matching each term (keyed by its FTS5 string), as the backend's ``count`` gives
    them up to ``threshold``; cached for DF_CACHE_SECONDS."""
    strings = [fts_term(t) for t in terms]
    by_string = dict(zip(strings, terms, strict=True))

    def count_missing(missing: list[str]) -> list[int]:
        return count(session, [by_string[key] for key in missing], threshold)

    return _statistics.counts(session, strings, count_missing)


def term_rarity(session: Session, terms: Sequence[Term], count: MatchCounter) -> list[float]:
    """Each term's inverse document frequency, as bm25 weighs it: ln(1 + (N - n + 0.5) /
    (n + 0.5)) for a term in n of N papers. Reads the counts the search itself made (cached);
    a common term (in at least the "common" threshold of papers) gets the threshold's rarity:
    counting further would read its whole doclist, and both backends cap alike."""
    threshold = _statistics.common_threshold(session)
    size = max(_statistics.store_size(session), 1)
    counts = _term_counts(session, terms, threshold, count)
    rarity = []
    for term in terms:
        matches = min(counts[fts_term(term)], threshold, size)
        rarity.append(math.log(1 + (size - matches + 0.5) / (matches + 0.5)))
    return rarity


def plan_terms(session: Session, terms: Sequence[Term], count: MatchCounter) -> Plan:
    """Split the terms by how many papers they match."""
    threshold = _statistics.common_threshold(session)
    strings = [fts_term(t) for t in terms]
    counts = _term_counts(session, terms, threshold, count)
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
        matches = counts[string]
        if matches >= threshold or total + matches > OR_SCORE_DF_BUDGET:
            break
        scoring.append(term)
        total += matches

    # Counts below the threshold are exact on SQLite (PostgreSQL's estimates only steer its
    # stages; the bounds below are read by the SQLite path alone). An AND matches at most its
    # rarest term's papers.
    exact = [counts[fts_term(t)] for t in rare]
    required = required or list(terms)
    return Plan(
        required,
        rare,
        scoring,
        and_bounded=any(
            counts[fts_term(t)] < threshold and counts[fts_term(t)] <= RANK_BUDGET for t in required
        ),
        rare_bounded=all(c < threshold for c in exact) and sum(exact) <= RANK_BUDGET,
    )
