"""The search box parser: terms, filters, arXiv ids, limits, and errors only for bad filters."""

from __future__ import annotations

import contextlib
import datetime as dt
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dailypapers.search.query import (
    MAX_FILTER_VALUES,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    Filters,
    QueryError,
    Term,
    normalize_category,
    parse_query,
)


def test_words_phrases_and_exclusions() -> None:
    parsed = parse_query('V-GRPO "video generation" -survey -"large language"')
    assert parsed.terms == (
        Term(("V-GRPO",)),
        Term(("video", "generation"), phrase=True),
        Term(("survey",), excluded=True),
        Term(("large", "language"), phrase=True, excluded=True),
    )
    assert parsed.text == "V-GRPO video generation"
    assert [t.text for t in parsed.positive] == ["V-GRPO", "video generation"]
    assert [t.text for t in parsed.excluded] == ["survey", "large language"]
    assert not parsed.is_empty


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('"video generation', [("video", "generation")]),  # runs to the end
        ('diffusion "', [("diffusion",)]),
        ('"', []),
        ('""', []),
        ('a"b c"d', [('a"b',), ('c"d',)]),
        ('author:"Yann LeCun', []),
    ],
)
def test_unbalanced_quotes_are_tolerated(raw: str, words: list[tuple[str, ...]]) -> None:
    assert [t.words for t in parse_query(raw).terms] == words


def test_filters() -> None:
    parsed = parse_query(
        'agents author:"Yann  LeCun" Author:bengio cat:CS.cl,cs.lg cat:physics.Optics '
        "org:Google from:2025 to:2026-02 has:code"
    )
    assert [t.text for t in parsed.terms] == ["agents"]
    assert parsed.filters == Filters(
        authors=("Yann LeCun", "bengio"),
        categories=("cs.CL", "cs.LG", "physics.optics"),
        orgs=("Google",),
        date_from=dt.date(2025, 1, 1),
        date_to=dt.date(2026, 2, 28),
        has_code=True,
    )
    assert parsed.filters.active
    assert parsed.text == "agents"


def test_a_filter_alone_is_a_query() -> None:
    parsed = parse_query("cat:cs.CL")
    assert not parsed.is_empty
    assert parsed.text == ""


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("2024", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2025-2", dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
        ("2026-02-10", dt.date(2026, 2, 10), dt.date(2026, 2, 10)),
    ],
)
def test_from_is_the_start_and_to_the_end_of_a_period(
    value: str, first: dt.date, last: dt.date
) -> None:
    filters = parse_query(f"from:{value} to:{value}").filters
    assert (filters.date_from, filters.date_to) == (first, last)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("from:2026-13-01", "not a real date"),
        ("to:2026-02-30", "not a real date"),
        ("from:2026-00", "not a real date"),
        ("from:26", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("to:2026/01/02", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("from:yesterday", "not a date"),
        ("from:2026 to:2025", "is after"),
        ("cat:!!", "not an arXiv category"),
        ("cat:cs..CL", "not an arXiv category"),
        ("cat:cs.CL.x", "not an arXiv category"),
        ("cat:,", "needs an arXiv category"),
        ("has:pdf", "has:code"),
        ("-cat:cs.CL", "cannot be excluded"),
        ('author:"!!"', "needs a name"),
        ("author:" + "x" * 300, "too long"),
    ],
)
def test_malformed_filter_values_raise_a_clear_error(raw: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(raw)


def test_lenient_parsing_keeps_a_bad_filter_as_text() -> None:
    parsed = parse_query("from:2026-13 agents", lenient=True)
    assert parsed.filters == Filters()
    assert [t.text for t in parsed.terms] == ["from:", "2026-13", "agents"]
    assert parse_query("from:2026 to:2025", lenient=True).filters == Filters()


@pytest.mark.parametrize(
    "raw",
    [
        "Bcc: victim@example.org",
        "https: foo",
        "title:attention",
        "to: read",
        "from:",
        'xyz:"a b"',
        "ICLR:2026",
    ],
)
def test_unknown_prefixes_and_empty_values_are_text(raw: str) -> None:
    parsed = parse_query(raw)
    assert parsed.filters == Filters()
    assert parsed.terms


def test_categories_are_spelled_as_arxiv_does() -> None:
    assert normalize_category("CS.cl") == "cs.CL"
    assert normalize_category("astro-ph.co") == "astro-ph.CO"
    assert normalize_category("Q-BIO.nc") == "q-bio.NC"
    assert normalize_category("cond-mat.Stat-Mech") == "cond-mat.stat-mech"
    assert normalize_category("HEP-TH") == "hep-th"
    assert normalize_category("cs") == "cs"


@pytest.mark.parametrize(
    ("raw", "arxiv_id"),
    [
        ("2401.00001", "2401.00001"),
        ("see 2401.00001v3 please", "2401.00001"),
        ("arXiv:2602.12670", "2602.12670"),
        ("https://arxiv.org/abs/2602.12670v2", "2602.12670"),
        ("https://huggingface.co/papers/2602.12670", "2602.12670"),
        ("arxiv.org/pdf/hep-th/9901001v1", "hep-th/9901001"),
        ("2401.00001 2402.00002", "2401.00001"),
        ("1234.5678", None),  # month 34 is no month
        ("2413.00001", None),
    ],
)
def test_an_arxiv_id_or_url_is_found_and_not_searched_as_words(
    raw: str, arxiv_id: str | None
) -> None:
    parsed = parse_query(raw)
    assert parsed.arxiv_id == arxiv_id
    if arxiv_id is not None:
        assert not any("." in t.text and t.text[0].isdigit() for t in parsed.terms)
        assert not parsed.is_empty


def test_empty_and_wordless_queries() -> None:
    for raw in ("", "   ", "\n\t"):
        assert parse_query(raw).is_empty
    wordless = parse_query("-- ** ( ) $$")
    assert wordless.terms  # kept as typed ...
    assert not wordless.positive  # ... but nothing to search for
    assert wordless.is_empty
    assert parse_query("-exclusions -only").is_empty


def test_a_10kb_query_is_cut_quickly() -> None:
    started = time.perf_counter()
    parsed = parse_query("word " * 2000 + "from:2026-13-01")
    assert time.perf_counter() - started < 0.5
    assert parsed.truncated
    assert len(parsed.terms) <= MAX_TERMS
    # The malformed filter lay past the cut: it was never read.
    assert parsed.filters == Filters()


def test_the_cut_drops_a_half_token() -> None:
    raw = "a" * (MAX_QUERY_CHARS - 6) + " from:2026-02-10"
    parsed = parse_query(raw)  # a half date would otherwise raise
    assert parsed.truncated
    assert parsed.filters == Filters()


def test_terms_and_filter_values_are_capped() -> None:
    parsed = parse_query(" ".join(f"w{i}" for i in range(100)))
    assert len(parsed.terms) == MAX_TERMS
    assert parsed.truncated
    too_many = " ".join(f"author:a{i}" for i in range(MAX_FILTER_VALUES + 1))
    with pytest.raises(QueryError, match="At most"):
        parse_query(too_many)


def test_duplicate_filter_values_count_once() -> None:
    assert parse_query("cat:cs.CL cat:CS.cl org:X org:x").filters == Filters(
        categories=("cs.CL",), orgs=("X",)
    )


def test_searchable_terms_need_a_letter_or_digit() -> None:
    assert Term(("$\\alpha$",)).searchable
    assert Term(("大型语言模型",)).searchable
    assert not Term(("--",)).searchable
    assert not Term(("_*_",)).searchable


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_parse_query_raises_only_query_errors(raw: str) -> None:
    try:
        parsed = parse_query(raw)
    except QueryError as error:
        message = str(error)
    else:
        assert len(parsed.terms) <= MAX_TERMS
        message = "parsed"
    assert message
    assert isinstance(parsed.text, str)


_QUERY_PIECES = st.sampled_from(
    [
        "author:",
        "cat:",
        "org:",
        "from:",
        "to:",
        "has:",
        '"',
        "-",
        ":",
        ",",
        " ",
        "2026",
        "-02",
        "-31",
        "cs.CL",
        "code",
        "NEAR(",
        "arxiv.org/abs/2401.00001",
        "é",
        "大",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_QUERY_PIECES, max_size=30).map("".join))
def test_filter_like_text_raises_only_query_errors(raw: str) -> None:
    with contextlib.suppress(QueryError):
        parse_query(raw)
    # Lenient parsing (stored digest topics) never raises.
    parse_query(raw, lenient=True)
