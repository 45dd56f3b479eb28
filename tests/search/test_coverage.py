"""Term coverage matches words as the FTS5 index does (search/coverage.py)."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.search.coverage import WantedTerm, coverage, stems, wanted_terms
from dailypapers.search.lexical.terms import fts_term as _fts_term
from dailypapers.search.lexical.terms import match_terms
from dailypapers.search.query import parse_query

# The papers index's tokenizer, as migration 0001 writes it: the oracle for coverage.
INDEX_TOKENIZER = "porter unicode61 remove_diacritics 2"

# Words whose Porter stems are not their prefix (study -> studi, ayed -> ai, tuning -> tune,
# capability -> capabl), diacritics, digits, CJK and Hangul runs, ligatures, superscripts, "ß",
# short words the index leaves unstemmed ("os"), one-letter and hyphenated words.
WORDS = [
    "study",
    "studies",
    "studying",
    "tuning",
    "tuned",
    "tune",
    "capability",
    "capable",
    "capabilities",
    "ayed",
    "ai",
    "AIs",
    "generalization",
    "generalize",
    "general",
    "naïve",
    "naive",
    "Über",
    "uber",
    "café",
    "cafe",
    "résumé",
    "3D",
    "3d",
    "GPT-4o",
    "V-GRPO",
    "grpo",
    "relational",
    "relate",
    "happily",
    "happy",
    "efficiency",
    "efficient",
    "cry",
    "cries",
    "语言模型",
    "模型",
    "x",
    "y",
    "LLMs",
    "LLM",
    "agentic",
    "agents",
    "agent",
    "e2e",
    "Mobile-Agent-v3.5",
    "v3",
    "diffusion",
    "diffuse",
    "methodology",
    "methodological",
    "topology",
    "topological",
    "possibly",
    "responsibly",
    "biology",
    "언어",
    "언어모델",
    "Straße",
    "strasse",
    "ﬁne",
    "fine",
    "x²",
    "os",
    "OS",
    "is",
]


def _fts5(tmp_path: Path) -> sqlite3.Connection:
    """A real FTS5 table with the papers index's tokenizer (migration 0001)."""
    connection = sqlite3.connect(tmp_path / "fts.sqlite3")
    connection.execute(f"CREATE VIRTUAL TABLE docs USING fts5(body, tokenize='{INDEX_TOKENIZER}')")
    return connection


def _fts5_holds(connection: sqlite3.Connection, text: str, word: str) -> bool:
    """Whether the index finds the phrase ``word`` in ``text``, matched as lexical search
    matches a term (a CJK run as a prefix)."""
    connection.execute("DELETE FROM docs")
    connection.execute("INSERT INTO docs (rowid, body) VALUES (1, ?)", (text,))
    (term,) = match_terms(parse_query(f'"{word}"', lenient=True))
    match = _fts_term(term)
    return bool(connection.execute("SELECT 1 FROM docs WHERE docs MATCH ?", (match,)).fetchall())


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    connection = _fts5(tmp_path_factory.mktemp("fts"))
    yield connection
    connection.close()


def _index_terms(connection: sqlite3.Connection, words: Iterable[str]) -> dict[str, set[str]]:
    """The terms the index stores for each word, read back with fts5vocab."""
    connection.execute("DROP TABLE IF EXISTS words")
    connection.execute(f"CREATE VIRTUAL TABLE words USING fts5(body, tokenize='{INDEX_TOKENIZER}')")
    connection.execute("CREATE VIRTUAL TABLE vocab USING fts5vocab(words, 'instance')")
    rows = list(enumerate(words, 1))
    connection.executemany("INSERT INTO words (rowid, body) VALUES (?, ?)", rows)
    terms: dict[int, set[str]] = {}
    for term, doc in connection.execute("SELECT term, doc FROM vocab"):
        terms.setdefault(doc, set()).add(term)
    connection.execute("DROP TABLE vocab")
    return {word: terms.get(rowid, set()) for rowid, word in rows}


def test_every_word_of_the_bundled_month_stems_as_the_index_stems_it(
    index: sqlite3.Connection,
) -> None:
    words: set[str] = set()
    with gzip.open(DEMO_DAILY_PAPERS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            words.update(re.findall(r"[^\W_]+", f"{record['title']} {record['abstract']}"))
    assert len(words) > 10_000
    wrong = {
        word: (stems(word), terms)
        for word, terms in _index_terms(index, sorted(words)).items()
        if stems(word) != terms
    }
    assert not wrong, wrong


def test_letters_of_every_script_fold_as_the_index_folds_them(index: sqlite3.Connection) -> None:
    # Latin accents go; Greek, Cyrillic and other accents stay; "ß" stays; combining accents
    # go; ς, ϐ, ſ fold. Left out: letters newer than FTS5's Unicode tables (Ϳ, Ԩ-Ԯ: Unicode
    # 7), which Python lower-cases and the index does not (about 200 of the BMP's 49k letters).
    newer = {0x37F, *range(0x528, 0x530)}
    codes = [*range(0xC0, 0x250), *range(0x370, 0x530), *range(0x1E00, 0x1F00)]
    words = [f"qq{chr(c)}qq" for c in codes if chr(c).isalpha() and c not in newer]
    words += ["qqe\u0301qq", "naïve", "NAÏVE", "Ǆemal", "straße", "ΣΟΦΙΑΣ", "σοφια", "ẛ"]
    wrong = {
        word: (stems(word), terms)
        for word, terms in _index_terms(index, words).items()
        if stems(word) != terms
    }
    assert not wrong, wrong


def test_each_word_counts_exactly_when_the_index_finds_the_text(
    index: sqlite3.Connection,
) -> None:
    connection = index
    texts = [" ".join(WORDS[i : i + 4]) for i in range(0, len(WORDS), 3)] + ["", "—", "3D-aware"]
    for text in texts:
        for word in WORDS:
            if not wanted_terms(match_terms(parse_query(word, lenient=True))):
                continue
            wanted = wanted_terms(match_terms(parse_query(f'"{word}"', lenient=True)))
            expected = _fts5_holds(connection, text, word)
            assert (coverage(wanted, text) == 1.0) == expected, (word, text)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
    text_words=st.lists(st.sampled_from(WORDS), max_size=12),
)
def test_coverage_is_the_weighted_share_of_terms_the_index_finds(
    index: sqlite3.Connection, words: list[str], text_words: list[str]
) -> None:
    text = " ".join(text_words)
    terms = match_terms(parse_query(" ".join(f'"{w}"' for w in words), lenient=True))
    weights = [float(len(term.text)) for term in terms]  # any positive weights
    wanted = wanted_terms(terms, weights)
    # A term with the stems of an earlier one is left out.
    assert len({term.stems for term in wanted}) == len(wanted)
    text_of: dict[frozenset[str], str] = {}  # each stem set's first term, as typed
    for term in terms:
        if alone := wanted_terms([term]):
            text_of.setdefault(alone[0].stems, term.text)
    found = sum(t.weight for t in wanted if _fts5_holds(index, text, text_of[t.stems]))
    total = sum(term.weight for term in wanted)
    assert coverage(wanted, text) == pytest.approx(found / total if total else 0.0)


def test_a_phrase_needs_each_of_its_words_and_empty_queries_cover_nothing() -> None:
    wanted = wanted_terms(match_terms(parse_query('"graph neural" transformer')))
    assert coverage(wanted, "A graph transformer") == 0.5
    assert coverage(wanted, "Neural networks on a graph, no attention") == 0.5
    assert coverage(wanted, "Graph neural transformers") == 1.0
    assert coverage([], "anything") == 0.0
    assert wanted_terms(match_terms(parse_query("-- $$"))) == []


def test_rare_terms_weigh_more() -> None:
    wanted = [WantedTerm(frozenset({"scientif"}), 1.0), WantedTerm(frozenset({"manuscript"}), 3.0)]
    assert coverage(wanted, "Scientific writing") == 0.25
    assert coverage(wanted, "Manuscripts") == 0.75


def test_a_cjk_run_counts_where_a_token_starts_with_it() -> None:
    wanted = wanted_terms(match_terms(parse_query("语言")))
    assert coverage(wanted, "大型 语言模型 的 研究") == 1.0
    assert coverage(wanted, "大型语言模型") == 0.0  # inside a token, as the index
