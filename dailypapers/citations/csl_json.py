"""CSL JSON (Zotero's "Export Collection… → CSL JSON", pandoc, citeproc): a JSON array of items.

The array is the file; a file that is not JSON or not an array is refused whole
(:class:`CitationFileError`), an item that is not an object is one :class:`UnparseableEntry`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dailypapers.arxiv_ids import abs_url

from .entries import (
    CitationEntry,
    CitationFileError,
    CitedPaper,
    ParsedFile,
    UnparseableEntry,
    check_entry_count,
)
from .fields import (
    arxiv_id_from,
    arxiv_id_from_doi,
    bounded_int,
    clean_doi,
    clean_note,
    clean_text,
    display_name,
    first_arxiv_id,
    split_display_name,
    year_from,
)


def parse_csl_json(text: str) -> ParsedFile:
    """Read a CSL JSON array.

    :raises CitationFileError: not JSON, not an array, or more than ``MAX_IMPORT_ENTRIES`` items.
    """
    try:
        data = json.loads(text, parse_int=bounded_int)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = (
            f" (line {error.lineno}, column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise CitationFileError(
            f"the file is not valid JSON{detail}; expected a CSL JSON array of items"
        ) from None
    if not isinstance(data, list):
        raise CitationFileError(
            f"expected a CSL JSON array of items ([{{…}}, …]), found a JSON {_kind(data)}"
        )
    check_entry_count(len(data))
    entries: list[CitationEntry] = []
    errors: list[UnparseableEntry] = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(
                UnparseableEntry(index, None, f"item is a JSON {_kind(item)}, not an object")
            )
            continue
        entry = _entry(index, item)
        if isinstance(entry, UnparseableEntry):
            errors.append(entry)
        else:
            entries.append(entry)
    return ParsedFile("csl_json", entries, errors)


def _kind(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _name(person: object) -> str | None:
    if not isinstance(person, dict):
        return clean_text(person)
    if "literal" in person:
        return clean_text(person["literal"])
    return display_name(
        *(
            person.get(part) if isinstance(person.get(part), str) else None
            for part in ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")
        )
    )


def _year(issued: object) -> int | None:
    """``{"date-parts": [[2017, 6, 12]]}``, or ``{"raw": "2017-06-12"}`` / ``"literal"``."""
    if not isinstance(issued, dict):
        return year_from(issued)
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        return year_from(parts[0][0])
    return year_from(issued.get("raw")) or year_from(issued.get("literal"))


def _entry(index: int, item: dict[str, Any]) -> CitationEntry | UnparseableEntry:
    title = clean_text(item.get("title"))
    doi = clean_doi(item.get("DOI"))
    url = clean_text(item.get("URL"))
    sources = (item.get("archive"), item.get("publisher"))
    from_archive = any(isinstance(value, str) and "arxiv" in value.lower() for value in sources)
    arxiv_id = first_arxiv_id(
        [
            arxiv_id_from_doi(doi),
            arxiv_id_from(url),
            arxiv_id_from(item.get("number")) if from_archive else None,
            arxiv_id_from(item.get("archive_location")) if from_archive else None,
        ]
    )
    if title is None and arxiv_id is None:
        return UnparseableEntry(index, None, "the item has neither a title nor an arXiv id")
    authors = item.get("author")
    names = [_name(person) for person in authors] if isinstance(authors, list) else []
    return CitationEntry(
        index=index,
        line=None,
        title=title,
        authors=tuple(name for name in names if name),
        year=_year(item.get("issued")),
        arxiv_id=arxiv_id,
        doi=doi,
        url=url,
        note=clean_note(item.get("note")),
    )


def write_csl_json(papers: Iterable[CitedPaper]) -> str:
    """A CSL JSON array that Zotero imports as preprints with arXiv's DOI, number and URL."""
    items = []
    for paper in papers:
        item: dict[str, Any] = {
            "id": f"arXiv:{paper.arxiv_id}",
            "type": "article",
            "title": paper.title,
            "author": [_person(name) for name in paper.authors if name.strip()],
        }
        if paper.published is not None:
            date = paper.published
            item["issued"] = {"date-parts": [[date.year, date.month, date.day]]}
        elif paper.year is not None:
            item["issued"] = {"date-parts": [[paper.year]]}
        item |= {
            "URL": abs_url(paper.arxiv_id),
            "DOI": f"10.48550/arXiv.{paper.arxiv_id}",
            "number": paper.arxiv_id,
            "publisher": "arXiv",
        }
        if paper.abstract:
            item["abstract"] = paper.abstract
        if paper.note:
            item["note"] = paper.note
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def _person(name: str) -> dict[str, str]:
    """A comma in a display name has no given/family reading: keep it whole as ``literal``."""
    if "," in name:
        return {"literal": name}
    given, family = split_display_name(name)
    return {"family": family, "given": given} if given else {"family": family}
