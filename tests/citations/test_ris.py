"""RIS import: Zotero's export, missing end tags, records without a title."""

from __future__ import annotations

from pathlib import Path

from dailypapers.citations import CitationEntry, UnparseableEntry, parse_ris

DATA = Path(__file__).parent.parent / "data" / "citations"


def test_zotero_export() -> None:
    parsed = parse_ris((DATA / "zotero.ris").read_text())
    assert parsed.errors == []
    attention, nature, mixtral = parsed.entries
    assert attention == CitationEntry(
        index=1,
        line=1,
        title="Attention Is All You Need",
        authors=("Ashish Vaswani", "Noam Shazeer"),
        year=2023,
        arxiv_id="1706.03762",
        doi="10.48550/arXiv.1706.03762",
        url="http://arxiv.org/abs/1706.03762",
        note="Worth rereading",  # the "arXiv:… [cs]" N1 line is Zotero's, not the reader's
    )
    assert (nature.line, nature.arxiv_id, nature.doi) == (21, None, "10.1038/nature14539")
    assert (mixtral.arxiv_id, mixtral.authors) == ("2401.04088", ("Albert Q. Jiang",))  # L2


def test_missing_end_tags_keep_the_records() -> None:
    text = (
        "TY  - GEN\nTI  - No end tag before the next record\nUR  - https://arxiv.org/abs/2101.00001v3\n"
        "\n"
        "TY  - JOUR\nTI  - Closed\nAU  - Doe, Jane, Jr.\nPY  - 99999999999999999999\nER  - \n"
        "TY  - GEN\nAU  - Title, Missing\nER  - \n"
        "TY  - GEN\nTI  - <script>x</script> at the end of the file, no ER\n"
    )
    parsed = parse_ris(text)
    assert [(e.index, e.line, e.title, e.arxiv_id) for e in parsed.entries] == [
        (1, 1, "No end tag before the next record", "2101.00001"),
        (2, 5, "Closed", None),
        (4, 13, "<script>x</script> at the end of the file, no ER", None),
    ]
    assert parsed.entries[1].authors == ("Jane Doe Jr.",)
    assert parsed.entries[1].year is None
    assert parsed.errors == [
        UnparseableEntry(3, 10, "the record has neither a title (TI) nor an arXiv id")
    ]


def test_text_outside_records_and_nul_bytes_are_ignored() -> None:
    text = (
        "Provider: Someone\nDatabase: X\n\nTY  - GEN\nTI  - Nul\x00 title\nN1  - a\x00b\nER  - \n"
    )
    (entry,) = parse_ris(text).entries
    assert (entry.line, entry.title, entry.note) == (4, "Nul title", "ab")
