"""Term coverage: the share of a query's terms a paper's text holds (pure; issue #5).

bm25 ranks a paper that repeats one rare query word above one that holds more of the words
once each; on keyword queries ("paraphrase" queries of bench/search_eval.py) the paper sought
is often the one holding the most words. Hybrid search re-ranks the head of its candidates
with this share (``hybrid.fuse``). Words are matched as the SQLite FTS5 index matches them:
the unicode61 tokenizer's runs of letters and digits, lower-cased, accents of Latin letters
dropped, then FTS5's porter stemmer — Martin Porter's C version, which is PyStemmer's
``porter`` (the 1980 paper's algorithm) plus two rules, ``-logi → -log`` and ``-bli → -ble``.
PostgreSQL stems with Snowball's English (Porter2) and parses hyphens its own way, so there
coverage may now and then disagree with what the lexical search matched.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import Stemmer

from dailypapers.search.query import CJK, Term

# The papers index's tokenizer (migration 0001), and its token: a run of letters and digits
# (lexical._FTS_TOKEN).
TOKENIZER = "porter unicode61 remove_diacritics 2"
_TOKEN = re.compile(r"[^\W_]+")
# FTS5's porter leaves tokens shorter than 3 or longer than 64 bytes as they are.
_STEMMED_BYTES = range(3, 65)
_VOWELS = frozenset("aeiou")
# A consonant FTS5 undoubles before "-ed"/"-ing" and Snowball's Porter does not.
_DOUBLED_BEFORE_SUFFIX = re.compile(r"(?P<stem>.*?)(?P<letter>[chjkqvwxy])(?P=letter)(?:ed|ing)")
# Words so short that FTS5's length checks skip a suffix rule Snowball applies (found by
# stemming every word of 3 and 4 letters both ways).
_SHORT_WORDS = {"eed": "e", "eeds": "e", "ies": "ie", "sses": "sse"}
# A word that step 1 leaves ending in "-logi" or "-bli" (technologies, possibly): step 2 is
# where FTS5 has two more rules than Snowball.
_STEP2_CANDIDATE = re.compile(r".*(?:log|bl)[yi](?:e?s|e?d|ing)?")
# Latin-1 Supplement to Latin Extended-B, and Latin Extended Additional: where unicode61
# drops accents; it keeps those of "ǡ"/"Ǡ" (a dot and a macron).
_LATIN = frozenset([*range(0xC0, 0x250), *range(0x1E00, 0x1F00)])
_KEPT_BY_FTS5 = frozenset({0x1E0, 0x1E1})
_LOCAL = threading.local()


@cache
def _folding() -> dict[int, str]:
    """unicode61's folding of lower-cased text, as a ``str.translate`` table: simple case
    folding where it differs from lower case (ς, ſ, ϐ → σ, s, β; not ß → ss), and
    remove_diacritics for Latin letters: each maps to its base letter, combining accents
    are dropped. Other scripts keep their accents, as in the index. Built on first use."""
    table: dict[int, str] = dict.fromkeys(range(0x300, 0x370), "")

    def latin_base(letter: str) -> str:
        decomposed = unicodedata.normalize("NFD", letter)
        base, marks = decomposed[0], decomposed[1:]
        latin = ord(letter) in _LATIN and ord(letter) not in _KEPT_BY_FTS5
        if latin and marks and base.isascii() and all(map(unicodedata.combining, marks)):
            return base
        return letter

    for code in range(0x80, 0x10000):
        letter = chr(code)
        folded = letter.casefold()
        if len(folded) == 1 and folded != letter.lower():
            table[code] = latin_base(folded)
        elif ord(letter) in _LATIN and latin_base(letter) != letter:
            table[code] = latin_base(letter)
    return table


def _stemmer() -> Stemmer.Stemmer:
    """One stemmer per thread: PyStemmer's objects are not thread-safe."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = Stemmer.Stemmer("porter")
    return stemmer


def _folded(text: str) -> str:
    """Case and Latin accents folded, as unicode61 with remove_diacritics does."""
    text = text.lower()
    return text if text.isascii() else text.translate(_folding())


def _has_vowel(word: str) -> bool:
    """Whether ``word`` has a vowel ("y" after a consonant is one), as Porter's *v*."""
    return _measure(word + "b") > 0


def _measure(word: str) -> int:
    """Porter's m: the number of vowel-consonant sequences ("y" after a consonant is a vowel)."""
    count, previous_vowel = 0, False
    for index, letter in enumerate(word):
        vowel = letter in _VOWELS or (letter == "y" and index > 0 and not previous_vowel)
        count += previous_vowel and not vowel
        previous_vowel = vowel
    return count


def _stem(token: str) -> str:
    """The index's term for a folded token: FTS5's porter, from PyStemmer's and the rules
    where they differ (_porter). Checked against FTS5 itself on 89k words of arXiv listings,
    every word of 3 and 4 letters and 1.8M made-up ones; they differ only on made-up words
    with "yy" before "-ed"/"-ing" (tests/search/test_coverage.py checks the month's words)."""
    if token.isascii():
        return _porter(token) if len(token) in _STEMMED_BYTES else token
    return _fts5_term(token)


@lru_cache(maxsize=65_536)
def _fts5_term(token: str) -> str:
    """The index's term for a token with non-ASCII letters, from FTS5 itself: its porter
    works on UTF-8 bytes (each non-ASCII one a consonant), which PyStemmer cannot imitate.
    Such tokens are few (Greek letters, names, CJK runs), so one in-memory row each serves."""
    connection = getattr(_LOCAL, "fts5", None)
    if connection is None:
        connection = _LOCAL.fts5 = sqlite3.connect(":memory:")
        connection.execute(f"CREATE VIRTUAL TABLE words USING fts5(body, tokenize='{TOKENIZER}')")
        connection.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, 'row')")
    with connection:
        connection.execute("INSERT INTO words (rowid, body) VALUES (1, ?)", (token,))
        terms = [term for (term,) in connection.execute("SELECT term FROM terms")]
        connection.execute("DELETE FROM words")
    return terms[0] if len(terms) == 1 else token


@lru_cache(maxsize=131_072)
def _porter(token: str) -> str:
    """FTS5's porter of an ASCII token of 3 to 64 letters (cached: papers share their words)."""
    if token in _SHORT_WORDS:
        return _SHORT_WORDS[token]
    stemmer = _stemmer()
    # Step 1b: after "-ed"/"-ing", FTS5 undoubles any final consonant but l, s and z;
    # Snowball only bb dd ff gg mm nn pp rr tt. The undoubled stem then goes through steps
    # 1c-5, which is stemming it afresh.
    if token.endswith(("ed", "ing")):
        doubled = _DOUBLED_BEFORE_SUFFIX.fullmatch(token)
        if doubled is not None and _has_vowel(doubled["stem"] + doubled["letter"] * 2):
            token = doubled["stem"] + doubled["letter"]
    stem: str = stemmer.stemWord(token)
    # Step 2: FTS5 also rewrites "-logi" to "-log" and "-bli" to "-ble" (for m > 0 before
    # them). Later steps never change a "-log" ending; a "-ble" one is stemmed on from there.
    if not stem.endswith(("logi", "bli")) or not _STEP2_CANDIDATE.fullmatch(token):
        return stem
    if stem.endswith("logi") and _measure(stem[:-4]) > 0:
        return stem[:-1]
    if stem.endswith("bli") and _measure(stem[:-3]) > 0:
        restemmed: str = stemmer.stemWord(stem[:-1] + "e")
        return restemmed
    return stem


def stems(text: str) -> set[str]:
    """The index's terms of ``text``: folded tokens, stemmed."""
    return {_stem(token) for token in set(_TOKEN.findall(_folded(text)))}


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


def _holds(folded: str, stem: str) -> bool:
    """Whether a token of ``folded`` has this stem (a CJK run: starts with it).

    Looks for the stem's text rather than tokenizing the document (much faster for a few
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
            if token is not None and _stem(token.group()) == stem:
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
    folded = _folded(text)
    found = sum(term.weight for term in wanted if all(_holds(folded, stem) for stem in term.stems))
    return found / total
