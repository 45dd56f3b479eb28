"""Export then import: every writer's output reads back to the same papers, in order."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dailypapers.citations import (
    CitedPaper,
    ParsedFile,
    parse_bibtex,
    parse_csl_json,
    parse_file,
    parse_ris,
    write_bibtex,
    write_csl_json,
    write_ris,
)
from dailypapers.citations.fields import clean_note, clean_text

# Characters that mean something to LaTeX, BibTeX, RIS or JSON, plus accents and scripts.
_TRICKY = "{}&%$#_~^\\@'`\"-!?,;:<>/=|*[]()" + "éüßøŁçñ中文αβ—“”"
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(_TRICKY),
        st.characters(codec="utf-8", categories=["L", "N", "Zs", "P", "S"]),
    ),
    min_size=1,
    max_size=40,
)
_LATEX_LOOKING = st.sampled_from(
    [r"\emph{x}", "$O(n^2)$", "--", "---", "``q''", r"{\"u}", r"\&", "%", "~", "?`", r"\\"]
)
_TITLE = (
    st.lists(st.one_of(_TEXT, _LATEX_LOOKING), min_size=1, max_size=4)
    .map(" ".join)
    .filter(lambda title: clean_text(title) is not None)
)
_WORD = st.text(
    alphabet=st.one_of(st.sampled_from("{}&%\\'`-~^_$"), st.characters(categories=["L"])),
    min_size=1,
    max_size=12,
)
# No commas: a "Given Family" display name with a comma has no RIS reading (docs).
_NAME = st.lists(st.one_of(_WORD, st.just("and")), min_size=1, max_size=4).map(" ".join)
_NOTE = st.lists(st.one_of(_TEXT, _LATEX_LOOKING, st.just("\n")), max_size=6).map("".join)


@st.composite
def _arxiv_ids(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        year, month = draw(st.integers(15, 26)), draw(st.integers(1, 12))
        return f"{year:02d}{month:02d}.{draw(st.integers(0, 99999)):05d}"
    archive = draw(st.sampled_from(["hep-th", "math.GT", "cond-mat", "astro-ph"]))
    year, month, number = (
        draw(st.integers(91, 99)),
        draw(st.integers(1, 12)),
        draw(st.integers(1, 999)),
    )
    return f"{archive}/{year}{month:02d}{number:03d}"


_PAPER = st.builds(
    CitedPaper,
    arxiv_id=_arxiv_ids(),
    title=_TITLE,
    authors=st.lists(_NAME, max_size=4).map(tuple),
    published=st.one_of(
        st.none(), st.dates(datetime.date(1991, 8, 1), datetime.date(2030, 12, 31))
    ),
    primary_category=st.sampled_from([None, "cs.CL", "hep-th", "math.GT"]),
    abstract=st.one_of(st.none(), _TEXT),
    note=st.one_of(st.none(), _NOTE),
)
_PAPERS = st.lists(_PAPER, min_size=1, max_size=4)
_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def _expected(paper: CitedPaper, *, note_lines_trimmed: bool = False) -> tuple[object, ...]:
    note = paper.note
    if note is not None and note_lines_trimmed:
        note = "\n".join(line.strip() for line in note.replace("\r", "\n").split("\n"))
    authors = tuple(clean_text(name) for name in paper.authors if clean_text(name))
    year = paper.published.year if paper.published else _id_year(paper.arxiv_id)
    return (paper.arxiv_id, clean_text(paper.title), authors, year, clean_note(note))


def _id_year(arxiv_id: str) -> int:
    yy = int(arxiv_id.split("/")[-1][:2])
    return 1900 + yy if yy >= 91 else 2000 + yy


def _got(parsed: ParsedFile) -> list[tuple[object, ...]]:
    assert parsed.errors == []
    return [(e.arxiv_id, e.title, e.authors, e.year, e.note) for e in parsed.entries]


def _check(
    papers: list[CitedPaper],
    write: Callable[[list[CitedPaper]], str],
    parse: Callable[[str], ParsedFile],
    **options: bool,
) -> None:
    text = write(papers)
    assert _got(parse(text)) == [_expected(paper, **options) for paper in papers]


@_SETTINGS
@given(_PAPERS)
def test_bibtex_round_trip(papers: list[CitedPaper]) -> None:
    _check(papers, write_bibtex, parse_bibtex)


@_SETTINGS
@given(_PAPERS)
def test_csl_json_round_trip(papers: list[CitedPaper]) -> None:
    _check(papers, write_csl_json, parse_csl_json)


@_SETTINGS
@given(_PAPERS)
def test_ris_round_trip(papers: list[CitedPaper]) -> None:
    _check(papers, write_ris, parse_ris, note_lines_trimmed=True)


@_SETTINGS
@given(_PAPERS)
def test_written_files_are_detected_from_their_content(papers: list[CitedPaper]) -> None:
    for write, expected in [
        (write_bibtex, "bibtex"),
        (write_csl_json, "csl_json"),
        (write_ris, "ris"),
    ]:
        parsed = parse_file(write(papers).encode(), None)
        assert parsed.format == expected
        assert [entry.arxiv_id for entry in parsed.entries] == [p.arxiv_id for p in papers]


PAPER = CitedPaper(
    arxiv_id="1706.03762",
    title="Attention Is All You Need",
    authors=("Ashish Vaswani", "Noam Shazeer"),
    published=datetime.date(2017, 6, 12),
    primary_category="cs.CL",
    abstract="The dominant sequence transduction models…",
)


def test_bibtex_has_arxivs_export_form_and_unique_keys() -> None:
    same_key = CitedPaper("1706.03763", "Attention, is all?", ("A. Vaswani",), PAPER.published)
    text = write_bibtex([PAPER, same_key, same_key])
    assert text.split("\n\n")[0] == (
        "@misc{vaswani2017attentionneed,\n"
        "      title={Attention Is All You Need},\n"
        "      author={Ashish Vaswani and Noam Shazeer},\n"
        "      year={2017},\n"
        "      eprint={1706.03762},\n"
        "      archivePrefix={arXiv},\n"
        "      primaryClass={cs.CL},\n"
        "      url={https://arxiv.org/abs/1706.03762},\n"
        "}"
    )
    keys = [line.split("{")[1].rstrip(",") for line in text.splitlines() if line.startswith("@")]
    assert keys == ["vaswani2017attentionneed", "vaswani2017attention", "vaswani2017attentiona"]


def test_a_paper_without_a_date_takes_the_year_its_id_names() -> None:
    """Papers known only from Hugging Face lists have no arXiv date (every paper of the demo
    month): the id's YYMM is the first version's month, the year arXiv's own export writes."""
    undated = [
        CitedPaper("2602.02185", "Vision Benchmark", ("Yu Zeng",)),
        CitedPaper("hep-th/9901001", "Old"),
    ]
    bibtex = write_bibtex(undated)
    assert "@misc{zeng2026visionbenchmark," in bibtex
    assert [e.year for e in parse_bibtex(bibtex).entries] == [2026, 1999]
    assert [item["issued"] for item in json.loads(write_csl_json(undated))] == [
        {"date-parts": [[2026]]},
        {"date-parts": [[1999]]},
    ]
    ris = write_ris(undated)
    assert "PY  - 2026" in ris
    assert "DA  - " not in ris


def test_names_with_commas_survive_bibtex_and_csl_json() -> None:
    paper = CitedPaper("2101.00001", "T", ("Martin Luther King, Jr.", "Barnes and Noble"))
    assert parse_bibtex(write_bibtex([paper])).entries[0].authors == paper.authors
    assert parse_csl_json(write_csl_json([paper])).entries[0].authors == paper.authors


def test_csl_json_fields() -> None:
    (item,) = json.loads(write_csl_json([PAPER]))
    assert item == {
        "id": "arXiv:1706.03762",
        "type": "article",
        "title": "Attention Is All You Need",
        "author": [
            {"family": "Vaswani", "given": "Ashish"},
            {"family": "Shazeer", "given": "Noam"},
        ],
        "issued": {"date-parts": [[2017, 6, 12]]},
        "URL": "https://arxiv.org/abs/1706.03762",
        "DOI": "10.48550/arXiv.1706.03762",
        "number": "1706.03762",
        "publisher": "arXiv",
        "abstract": "The dominant sequence transduction models…",
    }


def test_ris_fields() -> None:
    paper = dataclasses.replace(PAPER, note="line one\nline two")
    assert write_ris([paper]).splitlines() == [
        "TY  - GEN",
        "TI  - Attention Is All You Need",
        "AU  - Vaswani, Ashish",
        "AU  - Shazeer, Noam",
        "PY  - 2017",
        "DA  - 2017/06/12/",
        "DO  - 10.48550/arXiv.1706.03762",
        "UR  - https://arxiv.org/abs/1706.03762",
        "PB  - arXiv",
        "AB  - The dominant sequence transduction models…",
        "N1  - line one",
        "N1  - line two",
        "ER  - ",
    ]


TRICKY_TITLES = [
    "@misc` x",  # "@misc{" inside a value would start a new entry
    "a -- b --- c",
    "``quoted'' and 'single'",
    "50% off & more_than #1",
    r"\emph{x} and \\ and {\"u}",
    "{unbalanced",
    "unbalanced}",
    "$x^2$ and ~ and ^",
    "?` !`",
    "Don't",
    "<script>alert(1)</script>",
]


def test_tricky_titles_round_trip_through_every_writer() -> None:
    papers = [CitedPaper(f"2101.{i:05d}", title) for i, title in enumerate(TRICKY_TITLES)]
    for write, parse in [
        (write_bibtex, parse_bibtex),
        (write_csl_json, parse_csl_json),
        (write_ris, parse_ris),
    ]:
        parsed = parse(write(papers))
        assert [entry.title for entry in parsed.entries] == TRICKY_TITLES, write.__name__
