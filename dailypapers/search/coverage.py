"""Term coverage: the share of a query's terms a paper's text holds (pure; issue #5).

bm25 ranks a paper that repeats one rare query word above one that holds more of the words
once each; on keyword queries ("paraphrase" queries of bench/search_eval.py) the paper sought
is often the one holding the most words. Hybrid search re-ranks the head of its candidates
with this share (``hybrid.fuse``). Words are matched as the FTS5 index matches them: the
unicode61 tokenizer's runs of letters and digits, case and diacritics folded, then the
original Porter stemmer (PyStemmer's ``porter``, the algorithm of FTS5's ``porter``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import Stemmer

from dailypapers.search.query import CJK, Term

# The FTS5 unicode61 token: a run of letters and digits (lexical._FTS_TOKEN).
_TOKEN = re.compile(r"[^\W_]+")
_COMBINING = re.compile(r"[\u0300-\u036f]")
# FTS5's porter leaves tokens shorter than 3 or longer than 64 bytes as they are.
_STEMMED_BYTES = range(3, 65)
_LOCAL = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    """One stemmer per thread: PyStemmer's objects are not thread-safe."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = Stemmer.Stemmer("porter")
    return stemmer


def _folded(text: str) -> str:
    """Case and diacritics folded, as unicode61 with remove_diacritics does: lower case
    (not casefold: the index keeps "ß"), Latin accents dropped, Hangul recomposed."""
    text = text.lower()
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", text)))


def _stem(stemmer: Stemmer.Stemmer, token: str) -> str:
    """The index's term for a folded token."""
    if len(token.encode()) not in _STEMMED_BYTES:
        return token
    stem: str = stemmer.stemWord(token)
    return stem


def stems(text: str) -> set[str]:
    """The index's terms of ``text``: folded tokens, stemmed."""
    stemmer = _stemmer()
    return {_stem(stemmer, token) for token in set(_TOKEN.findall(_folded(text)))}


@dataclass(frozen=True, slots=True)
class WantedTerm:
    """A query term as the stems it needs (a phrase needs each of its words) and its weight
    in the share (its rarity, lexical.term_rarity)."""

    stems: frozenset[str]
    weight: float = 1.0


def wanted_terms(terms: Sequence[Term], weights: Sequence[float] | None = None) -> list[WantedTerm]:
    """The terms to look for, weighted by ``weights`` (1 each when None). A term with no
    letter or digit, or with the stems of an earlier one ("model models"), is left out."""
    wanted: dict[frozenset[str], WantedTerm] = {}
    for term, weight in zip(terms, weights or [1.0] * len(terms), strict=True):
        needed = frozenset(stems(term.text))
        if needed and needed not in wanted:
            wanted[needed] = WantedTerm(needed, weight)
    return list(wanted.values())


def _holds(stemmer: Stemmer.Stemmer, folded: str, stem: str) -> bool:
    """Whether a token of ``folded`` has this stem (a CJK run: starts with it).

    Looks for the stem's text rather than tokenizing the document (~10x faster for a few
    terms): Porter rewrites at most a word's last three letters (study -> studi, ayed -> ai,
    tuning -> tune, capability -> capabl), so the stem less those starts the word; each token found
    there is stemmed to confirm."""
    cjk = CJK.search(stem) is not None
    prefix = stem if cjk else stem[:1] if len(stem) <= 3 else stem[: max(2, len(stem) - 3)]
    start = folded.find(prefix)
    while start != -1:
        if start == 0 or not _TOKEN.match(folded, start - 1):
            if cjk:
                return True
            token = _TOKEN.match(folded, start)
            if token is not None and _stem(stemmer, token.group()) == stem:
                return True
        start = folded.find(prefix, start + 1)
    return False


def coverage(wanted: Sequence[WantedTerm], text: str) -> float:
    """The weighted share of ``wanted`` terms that ``text`` holds: 0 to 1.

    A phrase counts when each of its words occurs (not necessarily side by side); a run of
    CJK characters counts when a token of the text starts with it, as the index matches it."""
    total = sum(term.weight for term in wanted)
    if total <= 0:
        return 0.0
    folded, stemmer = _folded(text), _stemmer()
    found = sum(
        term.weight for term in wanted if all(_holds(stemmer, folded, stem) for stem in term.stems)
    )
    return found / total
