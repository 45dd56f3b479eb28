"""Field helpers the format modules share: clean text, years, DOIs, arXiv ids, names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id

# C0 controls and DEL, except tab and newline: PostgreSQL refuses NUL in text, the rest is noise.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(?P<id>\S+)", re.IGNORECASE)
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_DOI_PREFIXES = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", re.IGNORECASE)
# "arXiv preprint arXiv:1706.03762" (Google Scholar's journal field), "arXiv:2101.00001 [cs]".
_ARXIV_REFERENCE = re.compile(r"arxiv:\s*(?P<id>[\w.\-/]+)", re.IGNORECASE | re.ASCII)
# Zotero writes "arXiv:1706.03762 [cs]" into its Extra field, which exports as a note: a line of
# only that is metadata, not something the reader wrote.
_ARXIV_NOTE_LINE = re.compile(r"arxiv:\s*\S+(?:\s*\[[^\]]*\])?", re.IGNORECASE)
# A bounded search: "99999999999999999999" holds no 4-digit year and never reaches int().
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)", re.ASCII)
MIN_YEAR, MAX_YEAR = 1000, 2999
# Longer JSON integers mean nothing to a reference (and past 4,300 digits int() refuses them).
MAX_INTEGER_DIGITS = 30


def bounded_int(digits: str) -> int | None:
    """``json.loads(..., parse_int=bounded_int)``: an integer too long to mean anything is no
    value, so one such number cannot make the whole file unreadable."""
    return int(digits) if len(digits.lstrip("-")) <= MAX_INTEGER_DIGITS else None


def clean_text(value: object) -> str | None:
    """One line of text with controls removed and white space collapsed; ``None`` when empty."""
    if not isinstance(value, str):
        return None
    text = " ".join(_CONTROLS.sub("", value).split())
    return text or None


def clean_note(value: object) -> str | None:
    """A note keeps its line breaks; Zotero's "arXiv:<id> [cs]" boilerplate lines are dropped."""
    if not isinstance(value, str):
        return None
    lines = _CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    kept = [line.rstrip() for line in lines if not _ARXIV_NOTE_LINE.fullmatch(line.strip())]
    text = "\n".join(kept).strip()
    return text or None


def year_from(value: object) -> int | None:
    """A plausible year from ``2017``, ``"2017"``, ``"2017-06-12"``, ``"June 2017"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if MIN_YEAR <= value <= MAX_YEAR else None
    if not isinstance(value, str):
        return None
    match = _YEAR.search(value[:200])
    if match is None:
        return None
    year = int(match.group(1))
    return year if MIN_YEAR <= year <= MAX_YEAR else None


def year_of_arxiv_id(arxiv_id: str) -> int | None:
    """The year a canonical arXiv id names (``2602.02185`` → 2026, ``hep-th/9901001`` → 1999):
    its YYMM is the month of the first version, the year arXiv's own "Export BibTeX" writes."""
    digits = arxiv_id.rsplit("/", 1)[-1][:2]
    if not digits.isdigit():
        return None
    yy = int(digits)
    return 1900 + yy if yy >= 91 else 2000 + yy  # old-style ids began in 1991


def clean_doi(value: object) -> str | None:
    """The bare DOI (``10.…/…``) from a DOI, ``doi:`` reference or doi.org URL."""
    text = clean_text(value)
    if text is None:
        return None
    match = _DOI.search(_DOI_PREFIXES.sub("", text))
    return match.group(0) if match else None


def arxiv_id_from(value: object) -> str | None:
    """The canonical id of a bare arXiv id, ``arXiv:`` reference or arXiv / HF paper URL."""
    text = clean_text(value)
    if text is None:
        return None
    try:
        return parse_arxiv_id(text).id
    except ArxivIdError:
        return None


def arxiv_id_from_doi(doi: str | None) -> str | None:
    """arXiv's own DOIs are ``10.48550/arXiv.<id>``; other DOIs name no arXiv id."""
    if doi is None:
        return None
    match = _ARXIV_DOI.fullmatch(doi)
    return arxiv_id_from(match["id"]) if match else None


def arxiv_id_in_reference(value: object) -> str | None:
    """An id cited inside free text, as in ``journal={arXiv preprint arXiv:1706.03762}``."""
    text = clean_text(value)
    if text is None:
        return None
    match = _ARXIV_REFERENCE.search(text)
    return arxiv_id_from(match["id"].rstrip(".,;")) if match else None


def first_arxiv_id(candidates: Iterable[str | None]) -> str | None:
    """The first candidate that is an id: the caller lists them in the documented order."""
    for candidate in candidates:
        if candidate is not None:
            return candidate
    return None


def split_display_name(name: str) -> tuple[str, str]:
    """("Given", "Family") from "Given Family"; lowercase particles go with the family name.

    "Jean de la Fontaine" → ("Jean", "de la Fontaine"); a one-word name is all family.
    ``" ".join`` of the two parts (without an empty given) gives the name back.
    """
    words = name.split()
    if len(words) <= 1:
        return "", name.strip()
    start = len(words) - 1
    while start > 1 and words[start - 1][:1].islower():
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


def display_name(*parts: str | None) -> str | None:
    """Join name parts in reading order, skipping empty ones."""
    return clean_text(" ".join(part for part in parts if isinstance(part, str)))


def normalized_title(title: str) -> str:
    """A title reduced for exact matching: NFKC, casefolded, no braces or punctuation.

    Letters and digits of every script are kept; everything else becomes one space.
    """
    folded = unicodedata.normalize("NFKC", title).casefold()
    kept = (ch if ch.isalnum() else " " for ch in folded)
    return " ".join("".join(kept).split())
