"""Parse and normalize arXiv identifiers and URLs (pure: no I/O).

New-style ids are ``YYMM.NNNN`` (2007-04 … 2014-12) or ``YYMM.NNNNN`` (2015-01 on), optionally
followed by ``vN``. Old-style ids are ``archive[.SUBJECT]/YYMMNNN`` (e.g. ``hep-th/9901001``,
``math.GT/0309136``) and keep their slash. The canonical id has no version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

EXPECTED_FORMS = (
    "an arXiv id such as 2401.00001, 2401.00001v2, hep-th/9901001, "
    "or an arXiv / Hugging Face paper URL"
)

# re.ASCII: \d is 0-9 only (Arabic-Indic digits are not an arXiv id).
_NEW_ID = re.compile(
    r"(?P<yymm>\d{4})\.(?P<number>\d{4,5})(?:v(?P<version>[1-9]\d{0,3}))?", re.ASCII
)
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?)/(?P<yymm>\d{4})(?P<number>\d{3})"
    r"(?:v(?P<version>[1-9]\d{0,3}))?",
    re.ASCII,
)
_ARXIV_HOSTS = {"arxiv.org", "www.arxiv.org", "export.arxiv.org"}
_PAPER_HOSTS = _ARXIV_HOSTS | {"huggingface.co", "www.huggingface.co", "hf.co"}
_URL_PREFIXES = ("/abs/", "/pdf/", "/html/", "/papers/", "/format/")
# Inputs longer than this are not ids: refuse them before running any regex.
MAX_INPUT_LENGTH = 300


class ArxivIdError(ValueError):
    """The text is not an arXiv id or paper URL; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class ArxivId:
    """A canonical arXiv id plus the version the input named, if any."""

    id: str
    version: int | None = None

    @property
    def versioned(self) -> str:
        return f"{self.id}v{self.version}" if self.version else self.id

    @property
    def is_old_style(self) -> bool:
        return "/" in self.id


def _valid_yymm(yymm: str, *, new_style: bool, number: str) -> bool:
    year, month = int(yymm[:2]), int(yymm[2:])
    if not 1 <= month <= 12:
        return False
    if not new_style:
        return True  # old-style ids run from 1991 to 2007; two-digit years wrap
    # 4-digit numbers were used from 0704 to 1412, 5-digit ones from 1501.
    if len(number) == 4:
        return (7, 4) <= (year, month) <= (14, 12)
    return (year, month) >= (15, 1)


def _match_bare(text: str) -> ArxivId | None:
    new = _NEW_ID.fullmatch(text)
    if new:
        if not _valid_yymm(new["yymm"], new_style=True, number=new["number"]):
            return None
        version = int(new["version"]) if new["version"] else None
        return ArxivId(f"{new['yymm']}.{new['number']}", version)
    old = _OLD_ID.fullmatch(text)
    if old:
        if not _valid_yymm(old["yymm"], new_style=False, number=old["number"]):
            return None
        version = int(old["version"]) if old["version"] else None
        return ArxivId(f"{old['archive']}/{old['yymm']}{old['number']}", version)
    return None


def _path_from_url(text: str) -> str | None:
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 host
        return None
    if host not in _PAPER_HOSTS:
        return None
    path = parts.path
    for prefix in _URL_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :].rstrip("/")
            for suffix in (".pdf", ".md"):
                rest = rest.removesuffix(suffix)
            return rest
    return None


def parse_arxiv_id(text: str) -> ArxivId:
    """Parse an id, ``arXiv:`` reference or paper URL into an :class:`ArxivId`.

    :raises ArxivIdError: with a message naming what was given and what is expected.
    """
    if not isinstance(text, str):
        raise ArxivIdError(f"expected {EXPECTED_FORMS}")
    stripped = text.strip()
    shown = stripped[:60] + ("…" if len(stripped) > 60 else "")
    if not stripped or len(stripped) > MAX_INPUT_LENGTH:
        raise ArxivIdError(f"{shown!r} is not an arXiv id; expected {EXPECTED_FORMS}")
    candidate = stripped
    if candidate.lower().startswith("arxiv:"):
        candidate = candidate[len("arxiv:") :]
    parsed = _match_bare(candidate)
    if parsed is None and ("/" in candidate or "." in candidate):
        path = _path_from_url(candidate)
        if path is not None:
            parsed = _match_bare(path)
    if parsed is None:
        raise ArxivIdError(f"{shown!r} is not an arXiv id; expected {EXPECTED_FORMS}")
    return parsed


def abs_url(arxiv_id: str, version: int | None = None) -> str:
    suffix = f"v{version}" if version else ""
    return f"https://arxiv.org/abs/{arxiv_id}{suffix}"


def pdf_url(arxiv_id: str, version: int | None = None) -> str:
    suffix = f"v{version}" if version else ""
    return f"https://arxiv.org/pdf/{arxiv_id}{suffix}"
