from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.arxiv_ids import ArxivIdError, abs_url, parse_arxiv_id, pdf_url


@pytest.mark.parametrize(
    ("text", "canonical", "version"),
    [
        ("2401.00001", "2401.00001", None),
        ("2401.00001v2", "2401.00001", 2),
        ("  arXiv:2602.12670v3 ", "2602.12670", 3),
        ("0704.0001", "0704.0001", None),
        ("1412.9999v1", "1412.9999", 1),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("hep-th/9901001v4", "hep-th/9901001", 4),
        ("math.GT/0309136", "math.GT/0309136", None),
        ("cond-mat.str-el/0101001", None, None),
        ("https://arxiv.org/abs/2602.12670", "2602.12670", None),
        ("https://arxiv.org/abs/2602.12670v2", "2602.12670", 2),
        ("http://www.arxiv.org/pdf/2602.12670v2.pdf", "2602.12670", 2),
        ("arxiv.org/pdf/2602.12670", "2602.12670", None),
        ("https://export.arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001", 1),
        ("https://arxiv.org/abs/math.GT/0309136", "math.GT/0309136", None),
        ("https://huggingface.co/papers/2602.12670", "2602.12670", None),
        ("https://arxiv.org/html/2602.12670v1/", "2602.12670", 1),
    ],
)
def test_parses_ids_and_urls(text: str, canonical: str | None, version: int | None) -> None:
    if canonical is None:
        with pytest.raises(ArxivIdError):
            parse_arxiv_id(text)
        return
    parsed = parse_arxiv_id(text)
    assert (parsed.id, parsed.version) == (canonical, version)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2401.1",
        "2413.00001",  # month 13
        "2400.00001",  # month 00
        "1501.0001",  # 4-digit numbers ended in 2014
        "0703.0001",  # new-style ids began in 2007-04
        "2401.00001v0",
        "2401.00001v",
        "hep-th/99010",
        "HEP-TH/9901001",
        "https://example.com/abs/2401.00001",
        "https://arxiv.org/list/cs.CL/recent",
        "2401.00001; DROP TABLE papers",
        "x" * 10_000,
        "2401.00001\n2401.00002",
    ],
)
def test_rejects_bad_ids_with_a_message(text: str) -> None:
    with pytest.raises(ArxivIdError, match="expected an arXiv id"):
        parse_arxiv_id(text)


@given(
    yymm=st.tuples(st.integers(15, 99), st.integers(1, 12)),
    number=st.integers(0, 99_999),
    version=st.none() | st.integers(1, 99),
)
def test_new_style_round_trip(yymm: tuple[int, int], number: int, version: int | None) -> None:
    base = f"{yymm[0]:02d}{yymm[1]:02d}.{number:05d}"
    text = base + (f"v{version}" if version else "")
    parsed = parse_arxiv_id(text)
    assert parsed.id == base
    assert parsed.version == version
    assert parsed.versioned == text
    assert parse_arxiv_id(abs_url(parsed.id, parsed.version)) == parsed
    assert parse_arxiv_id(pdf_url(parsed.id, parsed.version)) == parsed


@given(st.text(max_size=400))
def test_any_text_either_parses_or_raises_the_documented_error(text: str) -> None:
    try:
        parsed = parse_arxiv_id(text)
    except ArxivIdError:
        return
    assert parse_arxiv_id(parsed.id).id == parsed.id


@pytest.mark.parametrize("text", ["[2401.00001", "https://[arxiv.org/abs/2401.00001", "a.b/[x"])
def test_url_like_text_that_urllib_rejects(text: str) -> None:
    with pytest.raises(ArxivIdError):
        parse_arxiv_id(text)


def test_only_ascii_digits_make_an_id() -> None:
    with pytest.raises(ArxivIdError):
        parse_arxiv_id("٢٤٠١.٠٠٠٠١")
