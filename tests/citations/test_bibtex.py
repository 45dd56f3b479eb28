"""BibTeX import: arXiv's export, Google Scholar's, LaTeX, and broken files entry by entry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dailypapers.citations import (
    MAX_IMPORT_ENTRIES,
    CitationEntry,
    CitationFileError,
    UnparseableEntry,
    parse_bibtex,
)

DATA = Path(__file__).parent.parent / "data" / "citations"


def test_arxiv_export_with_latex_and_old_style_ids() -> None:
    parsed = parse_bibtex((DATA / "arxiv_export.bib").read_text())
    assert parsed.errors == []
    attention, witten, muller = parsed.entries
    assert attention == CitationEntry(
        index=1,
        line=1,
        title="Attention Is All You Need",
        authors=(
            "Ashish Vaswani",
            "Noam Shazeer",
            "Niki Parmar",
            "Jakob Uszkoreit",
            "Llion Jones",
            "Aidan N. Gomez",
            "Lukasz Kaiser",
            "Illia Polosukhin",
        ),
        year=2023,
        arxiv_id="1706.03762",  # eprint={1706.03762v7}: the version is dropped
        url="https://arxiv.org/abs/1706.03762",
    )
    assert (witten.line, witten.arxiv_id, witten.year) == (11, "hep-th/9802150", 1998)
    assert witten.title == "Anti de Sitter Space And Holography"
    assert witten.authors == ("Edward Witten",)
    assert witten.note == "Read with the Maldacena paper"
    assert muller.arxiv_id == "2101.00001"  # arxivid field
    assert muller.title == "Über die Schätzung von Café-Preisen: $O(n^2)$ & mehr"
    assert muller.authors == ("Jörg Müller", "Jean de la Fontaine", "Barnes and Noble")


def test_google_scholar_without_eprint() -> None:
    parsed = parse_bibtex((DATA / "google_scholar.bib").read_text())
    assert parsed.errors == []
    neurips, bert, gpt3, hf = parsed.entries
    # No id anywhere: kept for the title match the library does.
    assert (neurips.arxiv_id, neurips.title, neurips.year) == (
        None,
        "Attention is all you need",
        2017,
    )
    assert neurips.authors[6] == "Łukasz Kaiser"
    assert bert.arxiv_id == "1810.04805"  # journal={arXiv preprint arXiv:1810.04805}
    assert (gpt3.arxiv_id, gpt3.doi) == ("2005.14165", "10.48550/ARXIV.2005.14165")
    assert (hf.arxiv_id, hf.url) == ("2401.04088", "https://huggingface.co/papers/2401.04088")


def test_eprint_of_another_archive_is_not_an_arxiv_id() -> None:
    text = "@misc{a, title={On HAL}, eprint={2101.00001}, archivePrefix={HAL}}"
    (entry,) = parse_bibtex(text).entries
    assert entry.arxiv_id is None


def test_unbalanced_braces_cost_one_entry() -> None:
    text = (
        "@misc{before, title={Before}, eprint={2101.00001}}\n"
        "\n"
        "@article{broken, title={Unbalanced {brace, author={X}, year=2020}\n"
        "\n"
        "@misc{after, title={After}, year={2022}}\n"
    )
    parsed = parse_bibtex(text)
    assert [(e.index, e.line, e.title) for e in parsed.entries] == [
        (1, 1, "Before"),
        (3, 5, "After"),
    ]
    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert (error.index, error.line) == (2, 3)
    assert error.reason.startswith("BibTeX syntax error (unbalanced braces or quotes?)")


def test_entry_without_title_or_id_and_duplicate_keys() -> None:
    text = (
        "@misc{same, title={First}}\n"
        "@misc{empty, author={Nobody}, year={2020}}\n"
        '@misc{same, title={{Second}}, author={A {\\"u}ller}}\n'
        "@string{x = {ignored}}\n"
        "@comment{also ignored}\n"
    )
    parsed = parse_bibtex(text)
    assert [(e.index, e.title, e.authors) for e in parsed.entries] == [
        (1, "First", ()),
        (3, "Second", ("A üller",)),  # a repeated key is kept, braces and accents decoded
    ]
    assert parsed.errors == [
        UnparseableEntry(2, 2, "the entry has neither a title nor an arXiv id")
    ]


def test_markup_and_huge_year_are_kept_as_text() -> None:
    text = (
        "@misc{x, title={<script>alert(1)</script> & co}, "
        "year={99999999999999999999999999999999999999}, note={<b>bold</b>}}"
    )
    (entry,) = parse_bibtex(text).entries
    assert entry.title == "<script>alert(1)</script> & co"  # escaping is the page's job
    assert entry.note == "<b>bold</b>"
    assert entry.year is None


def test_nul_bytes_never_reach_an_entry() -> None:
    (entry,) = parse_bibtex("@misc{x, title={Nul\x00 byte}, note={a\x00b}}").entries
    assert (entry.title, entry.note) == ("Nul byte", "ab")


def _many(count: int) -> str:
    return "".join(
        f"@article{{key{i},\n  title={{Paper number {i} on M{{\\\"u}}ller's method}},\n"
        f"  author={{Doe, Jane and Roe, Richard}},\n  year={{2020}},\n"
        f"  eprint={{2101.{i:05d}}},\n  archivePrefix={{arXiv}}\n}}\n\n"
        for i in range(count)
    )


def test_twenty_thousand_entries_parse(capsys: pytest.CaptureFixture[str]) -> None:
    text = _many(MAX_IMPORT_ENTRIES)
    started = time.perf_counter()
    parsed = parse_bibtex(text)
    elapsed = time.perf_counter() - started
    assert len(parsed.entries) == MAX_IMPORT_ENTRIES
    assert parsed.errors == []
    assert parsed.entries[-1].arxiv_id == "2101.19999"
    assert parsed.entries[-1].title == "Paper number 19999 on Müller's method"
    with capsys.disabled():
        print(f"\n20,000-entry BibTeX ({len(text) / 1e6:.1f} MB) parsed in {elapsed:.2f} s")


def test_one_entry_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(CitationFileError, match="more than 20,000 entries"):
        parse_bibtex(_many(MAX_IMPORT_ENTRIES + 1))


def test_a_broken_entry_is_an_outcome_not_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        parsed = parse_bibtex("@misc{a, title={Secret {unbalanced}\n@misc{b, title={Fine}}\n")
    assert parsed.errors
    assert not [r for r in caplog.records if r.name.startswith("bibtexparser")]
