"""What the citation parsers return and the writers take (pure: no database, no web).

A parser never raises for one bad entry: it keeps every good entry and reports each bad one as
an :class:`UnparseableEntry` with its position, so an import can give every entry an outcome.
Only a problem with the whole file (too large, too many entries, CSL JSON that is not a list)
raises :class:`CitationFileError`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal

from .fields import year_of_arxiv_id

CitationFormat = Literal["bibtex", "csl_json", "ris", "ids"]

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ENTRIES = 20_000


class CitationFileError(ValueError):
    """The file as a whole cannot be imported; the message says why and what is accepted."""


def check_entry_count(count: int) -> None:
    """:raises CitationFileError: when ``count`` is over ``MAX_IMPORT_ENTRIES``."""
    if count > MAX_IMPORT_ENTRIES:
        raise CitationFileError(
            f"the file holds more than {MAX_IMPORT_ENTRIES:,} entries; split it into smaller files"
        )


@dataclass(frozen=True, slots=True)
class CitationEntry:
    """One entry read from a file, with the fields the library matches and keeps.

    ``index`` is the 1-based position among the file's entries (good and bad), ``line`` the
    1-based line where it starts (``None`` for JSON). ``authors`` are in "Given Family" display
    form. ``arxiv_id`` is canonical, without a version. ``note`` comes only from an explicit note
    field (BibTeX ``note``/``annote``, RIS ``N1``, CSL ``note``), never from the abstract.
    """

    index: int
    line: int | None
    title: str | None
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class UnparseableEntry:
    """An entry that could not be read; ``reason`` is a short sentence for the import report."""

    index: int
    line: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The good entries and the bad ones of one file, each in file order.

    ``encoding`` says how the bytes were read (``utf-8``, ``utf-16``, ``cp1252``, ``latin-1``)
    so a page can warn when the file was not UTF-8.
    """

    format: CitationFormat
    entries: list[CitationEntry] = field(default_factory=list)
    errors: list[UnparseableEntry] = field(default_factory=list)
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class CitedPaper:
    """A stored paper as an export writes it (the library builds these from its rows)."""

    arxiv_id: str
    title: str
    authors: tuple[str, ...] = ()
    published: datetime.date | None = None
    primary_category: str | None = None
    abstract: str | None = None
    note: str | None = None

    @property
    def year(self) -> int | None:
        """The publication year, else the one the id names (a paper known only from a Hugging
        Face list has no arXiv date)."""
        return self.published.year if self.published else year_of_arxiv_id(self.arxiv_id)
