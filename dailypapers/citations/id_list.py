"""A plain list of papers: one arXiv id, ``arXiv:`` reference or arXiv / HF paper URL a line."""

from __future__ import annotations

import re

from dailypapers.arxiv_ids import EXPECTED_FORMS, ArxivIdError, parse_arxiv_id

from .entries import (
    CitationEntry,
    ParsedFile,
    UnparseableEntry,
    check_entry_count,
)
from .fields import clean_text

# "2401.00001  # read later": a '#' after white space starts a comment (a URL keeps its '#').
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def parse_id_list(text: str) -> ParsedFile:
    """Read one paper a line; blank lines and ``#`` comments are skipped.

    A line that is no id becomes an :class:`UnparseableEntry` with its line number.

    :raises CitationFileError: when the list holds more than ``MAX_IMPORT_ENTRIES`` lines.
    """
    entries: list[CitationEntry] = []
    errors: list[UnparseableEntry] = []
    index = 0
    for number, raw in enumerate(text.replace("\x00", "").splitlines(), start=1):
        line = clean_text(_COMMENT.sub("", raw.lstrip("\ufeff")))
        if line is None:
            continue
        index += 1
        check_entry_count(index)
        try:
            arxiv_id = parse_arxiv_id(line).id
        except ArxivIdError:
            shown = line[:60] + ("…" if len(line) > 60 else "")
            errors.append(UnparseableEntry(index, number, f"{shown!r} is not {EXPECTED_FORMS}"))
            continue
        url = line if "://" in line else None
        entries.append(
            CitationEntry(index=index, line=number, title=None, arxiv_id=arxiv_id, url=url)
        )
    return ParsedFile("ids", entries, errors)
