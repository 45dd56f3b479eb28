"""RIS (``.ris``: Zotero, Mendeley, EndNote, most publishers): tagged lines, ``TY`` to ``ER``.

Records are cut here, by line, so each keeps its line number and a missing ``ER`` costs nothing:
a record still open when the next ``TY`` (or the end of the file) comes is closed there and
*kept* when its fields are good (a truncated export or a hand edit, not a different record).
Each record's tags are then read by rispy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import rispy

from dailypapers.arxiv_ids import abs_url

from .entries import (
    CitationEntry,
    CitedPaper,
    ParsedFile,
    UnparseableEntry,
    check_entry_count,
)
from .fields import (
    arxiv_id_from,
    arxiv_id_from_doi,
    arxiv_id_in_reference,
    clean_doi,
    clean_note,
    clean_text,
    display_name,
    first_arxiv_id,
    split_display_name,
    year_from,
)

_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
# Zotero's RIS translator has no RIS type for its "preprint" item type and exports it with its
# default, GEN; JOUR would tell EndNote and Mendeley it is a journal article, which it is not.
RIS_TYPE = "GEN"


def _tag(line: str) -> str | None:
    match = _TAG.match(line)
    return match.group(1) if match else None


def parse_ris(text: str) -> ParsedFile:
    """Read every ``TY … ER`` record; text outside records is ignored.

    :raises CitationFileError: when the file holds more than ``MAX_IMPORT_ENTRIES`` records.
    """
    # Only CR and LF end a line: str.splitlines() would also cut at U+2028 and friends in a value.
    lines = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    check_entry_count(sum(1 for line in lines if line.startswith("TY  -")))
    records: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff")
        tag = _tag(line)
        if tag == "TY":
            current = [line]
            records.append((number, current))
        elif current is None:
            continue
        elif tag == "ER":
            current = None
        else:
            current.append(line)
    parser = rispy.RisParser()
    entries: list[CitationEntry] = []
    errors: list[UnparseableEntry] = []
    for index, (line_number, record_lines) in enumerate(records, start=1):
        parsed = parser.parse_lines(iter([*record_lines, "ER  - "]))
        entry = _entry(index, line_number, parsed[0] if parsed else {})
        if isinstance(entry, UnparseableEntry):
            errors.append(entry)
        else:
            entries.append(entry)
    return ParsedFile("ris", entries, errors)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _name(value: str) -> str | None:
    """RIS names are "Family, Given[, Suffix]"; a name without a comma is taken as written."""
    parts = [part.strip() for part in value.split(",")]
    if len(parts) == 1:
        return clean_text(value)
    return display_name(*parts[1:2], parts[0], *parts[2:])


def _entry(index: int, line: int, record: dict[str, Any]) -> CitationEntry | UnparseableEntry:
    title = clean_text(record.get("title")) or clean_text(record.get("primary_title"))
    doi = clean_doi(record.get("doi"))
    urls = [
        url
        for key in ("urls", "file_attachments1", "file_attachments2")
        for url in _strings(record.get(key))
    ]
    arxiv_id = first_arxiv_id(
        [
            arxiv_id_from_doi(doi),
            *(arxiv_id_from(url) for url in urls),
            arxiv_id_in_reference(record.get("journal_name")),
            arxiv_id_in_reference(record.get("secondary_title")),
        ]
    )
    if title is None and arxiv_id is None:
        return UnparseableEntry(index, line, "the record has neither a title (TI) nor an arXiv id")
    names = [
        _name(raw) for key in ("authors", "first_authors") for raw in _strings(record.get(key))
    ]
    notes = _strings(record.get("notes"))
    year = next(
        (
            found
            for key in ("year", "publication_year", "date")
            if (found := year_from(record.get(key))) is not None
        ),
        None,
    )
    return CitationEntry(
        index=index,
        line=line,
        title=title,
        authors=tuple(name for name in names if name),
        year=year,
        arxiv_id=arxiv_id,
        doi=doi,
        url=clean_text(urls[0]) if urls else None,
        note=clean_note("\n".join(notes)) if notes else None,
    )


class _Writer(rispy.RisWriter):  # type: ignore[misc]  # rispy ships no type hints
    """rispy's RIS writer without the "1." line it puts before each record (Zotero writes none)."""

    def set_header(self, count: int) -> str:
        return ""


def write_ris(papers: Iterable[CitedPaper]) -> str:
    """One ``GEN`` record per paper with AU, TI, PY/DA, DO, UR, PB arXiv, AB and N1 tags.

    A multi-line note becomes one ``N1`` line per line (RIS trims each line's outer spaces).
    """
    references = []
    for paper in papers:
        reference: dict[str, Any] = {
            "type_of_reference": RIS_TYPE,
            "title": " ".join(paper.title.split()),
            "authors": [_ris_name(name) for name in paper.authors if name.strip()],
        }
        if paper.year is not None:
            reference["year"] = str(paper.year)
        if paper.published is not None:
            reference["date"] = paper.published.strftime("%Y/%m/%d/")
        reference |= {
            "doi": f"10.48550/arXiv.{paper.arxiv_id}",
            "urls": [abs_url(paper.arxiv_id)],
            "publisher": "arXiv",
        }
        if paper.abstract:
            reference["abstract"] = " ".join(paper.abstract.split())
        note = clean_note(paper.note)
        if note:
            reference["notes"] = note.split("\n")
        references.append(reference)
    return str(_Writer().formats(references))


def _ris_name(name: str) -> str:
    given, family = split_display_name(" ".join(name.split()))
    if "," in name or not given:
        return " ".join(name.split())
    return f"{family}, {given}"
