"""Properties of the text clean-up every source goes through (``dailypapers/ingest/text.py``)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dailypapers.ingest.text import (
    RecordError,
    clean_avatar_url,
    clean_text,
    clean_url,
    latex_to_unicode,
    record_problem,
    split_authors,
)

# Deterministic and quick: CI must not find a new example on one run and not the next.
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

# What a source may send: any text, with the characters that have caused trouble mixed in.
HOSTILE = st.sampled_from(
    ["\x00", "\u202e", "\ud800", "\ufffe", "\x85", "\u2028", "\u00a0", "\t", "\r\n", "\u0301"]
)
TEXT = st.lists(st.one_of(st.text(), HOSTILE), max_size=8).map("".join)
TEX = st.lists(
    st.one_of(
        st.text(alphabet="ab $\\{}^_~'\"`.=", max_size=6),
        st.sampled_from(
            ["\\alpha", "\\emph{", "\\'", '\\"o', "\\ss", "$x^2$", "\\%", "\\unknown", "\\c c"]
        ),
        HOSTILE,
    ),
    max_size=10,
).map("".join)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@PROPERTY
@given(TEXT)
@example("e\x00\u0301")  # a control character between a letter and its accent
def test_clean_text_is_idempotent_nfc_and_single_spaced(value: str) -> None:
    cleaned = clean_text(value)
    assert clean_text(cleaned) == cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not CONTROL.search(cleaned)
    assert cleaned == " ".join(cleaned.split())  # no edges, no runs, only plain spaces


@PROPERTY
@given(TEXT, st.integers(min_value=0, max_value=50))
def test_clean_text_raises_only_record_error_past_its_limit(value: str, limit: int) -> None:
    if len(clean_text(value)) > limit:
        with pytest.raises(RecordError, match=f"limit of {limit}$"):
            clean_text(value, limit=limit)
    else:
        assert len(clean_text(value, limit=limit)) <= limit


@pytest.mark.parametrize("value", [3, 2**5000, b"bytes", ["a"], {"a": 1}])
def test_clean_text_names_the_type_it_got_instead_of_text(value: object) -> None:
    with pytest.raises(RecordError, match=type(value).__name__):
        clean_text(value)
    assert clean_text(None) == ""


@PROPERTY
@given(TEX)
def test_latex_to_unicode_never_raises_nor_grows(value: str) -> None:
    converted = latex_to_unicode(value)
    assert isinstance(converted, str)
    assert len(converted) <= len(value)


@PROPERTY
@given(st.text(alphabet=st.characters(blacklist_characters="\\$~{")))
def test_text_without_tex_is_returned_as_it_is(value: str) -> None:
    assert latex_to_unicode(value) is value


@PROPERTY
@given(st.from_regex(r"[a-z]{3,9}", fullmatch=True), st.from_regex(r"[a-z]{1,5}", fullmatch=True))
def test_unknown_commands_stay_as_written(name: str, argument: str) -> None:
    """Unknown constructs are kept (the caller keeps the source text when anything changed)."""
    known = {"emph", "textbf", "textit", "texttt", "textsc", "textrm", "textsf", "text", "url"}
    known |= {"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathcal", "mathbb", "mbox"}
    known |= {"boldsymbol", "operatorname"}
    if name in known:
        return
    outside = f"see \\{name}{{{argument}}} here"
    assert latex_to_unicode(outside) == outside
    inside = f"${argument} \\{name}x$"  # math with an unknown command is kept whole
    assert latex_to_unicode(inside) == inside


@PROPERTY
@given(st.sampled_from(list("'\"`^~=.")), st.sampled_from(list("aeiouAEIOUnc")), st.booleans())
def test_an_accent_composes_onto_its_letter(accent: str, letter: str, braced: bool) -> None:
    written = f"\\{accent}{{{letter}}}" if braced else f"\\{accent}{letter}"
    converted = latex_to_unicode(written)
    assert unicodedata.is_normalized("NFC", converted)
    assert unicodedata.normalize("NFD", converted)[0] == letter
    assert len(unicodedata.normalize("NFD", converted)) == 2  # the letter and one mark


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('Schr\\"odinger', "Schrödinger"),
        ("$\\alpha$-smooth", "α-smooth"),
        ("\\emph{\\textbf{bold}} claims", "bold claims"),
        ("Erd\\H{o}s and Ko{\\l}akowski", "Erdős and Kołakowski"),
        ("$O(n^2)$ in $\\mathbb{R}^3$", "O(n²) in ℝ³"),
        ("100\\% of the \\$5", "100% of the $5"),
        ("Fig.~3", "Fig.\u00a03"),
        ("https://example.org/~user", "https://example.org/~user"),  # a URL keeps its tilde
        ("$\\frac{a}{b}$", "$\\frac{a}{b}$"),  # unknown math: left as written
    ],
)
def test_common_latex(written: str, shown: str) -> None:
    assert latex_to_unicode(written) == shown


@PROPERTY
@given(st.one_of(TEXT, st.none(), st.integers(), st.binary()))
@example("https://example.org/\x00repo")
@example("https://example.org/a\u202eb")
@example("https://example.org/a\nb")
def test_clean_url_keeps_only_plain_http_links(value: object) -> None:
    url = clean_url(value)
    if url is not None:
        assert url.lower().startswith(("https://", "http://"))
        assert len(url) <= 500
        assert url.isprintable()  # no NUL, controls or whitespace but the space
        assert " " not in url
        assert clean_url(url) == url


@pytest.mark.parametrize(
    "value", ["javascript:alert(1)", "data:text/html,x", "ftp://example.org", "//evil.example"]
)
def test_clean_url_drops_other_schemes(value: str) -> None:
    assert clean_url(value) is None
    assert clean_avatar_url(value) is None


def test_site_relative_avatars_become_hugging_face_urls() -> None:
    assert clean_avatar_url("/avatars/a.png") == "https://huggingface.co/avatars/a.png"
    assert clean_avatar_url(" https://cdn.example/a.png ") == "https://cdn.example/a.png"


NAME = st.lists(
    st.from_regex(r"[A-Z][a-zé\-']{0,8}", fullmatch=True).filter(lambda word: word != "and"),
    min_size=1,
    max_size=3,
).map(" ".join)


@PROPERTY
@given(st.lists(NAME, min_size=1, max_size=6), st.sampled_from([", ", " and ", ", and "]))
def test_split_authors_round_trips_arxiv_author_strings(names: list[str], last: str) -> None:
    written = names[0] if len(names) == 1 else ", ".join(names[:-1]) + last + names[-1]
    assert split_authors(written) == names


@PROPERTY
@given(TEXT)
def test_split_authors_never_yields_empty_names(value: str) -> None:
    assert all(split_authors(value))


def test_record_problem_reports_any_exception_briefly() -> None:
    assert record_problem(RecordError("title: missing")) == "title: missing"
    problem = record_problem(KeyError("x" * 1000))
    assert problem.startswith("unusable value (KeyError")
    assert len(problem) <= 300
