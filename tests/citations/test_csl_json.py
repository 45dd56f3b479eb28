"""CSL JSON import: Zotero's export, and files or items of the wrong shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dailypapers.citations import (
    MAX_IMPORT_ENTRIES,
    CitationEntry,
    CitationFileError,
    UnparseableEntry,
    parse_csl_json,
)

DATA = Path(__file__).parent.parent / "data" / "citations"


def test_zotero_export() -> None:
    parsed = parse_csl_json((DATA / "zotero.json").read_text())
    assert parsed.errors == []
    attention, nature, located = parsed.entries
    assert attention == CitationEntry(
        index=1,
        line=None,
        title="Attention Is All You Need",
        authors=("Ashish Vaswani", "Noam Shazeer"),
        year=2023,
        arxiv_id="1706.03762",
        doi="10.48550/arXiv.1706.03762",
        url="http://arxiv.org/abs/1706.03762",
        note=None,  # Zotero's "arXiv:1706.03762 [cs]" extra line is not the reader's note
    )
    assert nature.arxiv_id is None
    assert nature.authors == ("Yann LeCun", "Ludwig van Beethoven", "OpenAI")
    assert (nature.year, nature.note) == (2015, "Comment: my own remark")
    assert (located.arxiv_id, located.year) == ("2402.00001", 2024)


def test_number_counts_only_when_the_archive_is_arxiv() -> None:
    items = [
        {"title": "A report", "number": "2101.00001", "publisher": "Some Institute"},
        {"title": "A preprint", "number": "arXiv:2101.00001", "publisher": "arXiv"},
    ]
    report, preprint = parse_csl_json(json.dumps(items)).entries
    assert (report.arxiv_id, preprint.arxiv_id) == (None, "2101.00001")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"title": "one item, not a list"}', "found a JSON object"),
        ('"just a string"', "found a JSON string"),
        ('[{"title": "cut short"', "not valid JSON \\(line 1, column"),
        ("", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting too deep for json
    ],
)
def test_a_file_that_is_not_a_list_is_refused(text: str, message: str) -> None:
    with pytest.raises(CitationFileError, match=message):
        parse_csl_json(text)


def test_bad_items_are_reported_and_the_rest_kept() -> None:
    items = [
        {"title": "Good one", "issued": {"date-parts": [[10**40]]}},
        "a string",
        None,
        {"author": [{"family": "Doe"}]},
        {"title": "<script>alert(1)</script>", "author": "not a list", "note": 12},
        {"title": "Good two", "issued": {"date-parts": [["2019", 3]]}},
    ]
    parsed = parse_csl_json(json.dumps(items))
    assert [(e.index, e.title, e.year) for e in parsed.entries] == [
        (1, "Good one", None),  # a huge integer year is no year
        (5, "<script>alert(1)</script>", None),  # markup is kept as text
        (6, "Good two", 2019),
    ]
    assert parsed.entries[1].authors == ()
    assert parsed.entries[1].note is None
    assert parsed.errors == [
        UnparseableEntry(2, None, "item is a JSON string, not an object"),
        UnparseableEntry(3, None, "item is a JSON null, not an object"),
        UnparseableEntry(4, None, "the item has neither a title nor an arXiv id"),
    ]


def test_integers_too_long_for_python_are_no_value() -> None:
    """json.loads refuses integers of over 4,300 digits (a ValueError, once a 500): such a
    number is no value, and the entry around it is kept."""
    huge = "9" * 5_000
    text = f'[{{"title": "Kept", "issued": {{"date-parts": [[{huge}]]}}, "page": {huge}}}]'
    (entry,) = parse_csl_json(text).entries
    assert (entry.title, entry.year) == ("Kept", None)


def test_more_items_than_the_limit_are_refused() -> None:
    with pytest.raises(CitationFileError, match="more than 20,000 entries"):
        parse_csl_json(json.dumps([{"title": "x"}] * (MAX_IMPORT_ENTRIES + 1)))
