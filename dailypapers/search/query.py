"""Parse what a person typed in the search box into terms, filters and an arXiv id (pure).

Grammar, one token at a time (tokens are separated by white space):

- ``word`` — a word to match; ``"a phrase"`` — its words in order. A quote left open runs to
  the end of the query, so an unbalanced quote never fails.
- ``-word`` / ``-"a phrase"`` — papers containing it are left out.
- filters: ``author:Name`` or ``author:"Yann LeCun"``, ``cat:cs.CL`` (``cat:cs`` = any cs
  category), ``org:name``, ``from:``/``to:`` with ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``
  (``from:`` is the start of that period, ``to:`` its end), ``has:code``. Several ``author:``
  must all be on the paper; several ``cat:`` or ``org:`` (or ``cat:cs.CL,cs.LG``) are
  alternatives. Keys are case-insensitive. Any other ``xyz:``, and a filter key with no value
  (``to:``), is plain text.
- an arXiv id or an arxiv.org / huggingface.co paper URL anywhere in the query becomes
  :attr:`ParsedQuery.arxiv_id` (the caller pins that paper first); it is not a search term.

Only a malformed filter value raises, as :class:`QueryError` with a message to show (HTTP 400).
Input is cut at :data:`MAX_QUERY_CHARS` and :data:`MAX_TERMS`, so any text parses quickly.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field, replace

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id

# Longest query kept: a long sentence (an abstract's first lines) fits; a pasted paper is cut.
MAX_QUERY_CHARS = 1000
# Most terms kept (words and phrases, excluded ones included); later ones are dropped.
MAX_TERMS = 32
# Most words kept in one phrase.
MAX_PHRASE_WORDS = 16
# Most values of one filter kind (author, cat, org).
MAX_FILTER_VALUES = 8
MAX_FILTER_VALUE_CHARS = 200

# One token: an optional "-", then a quoted phrase (closing quote optional), a key:"quoted
# value", or a run of non-space characters.
_TOKEN = re.compile(
    r'(?P<minus>-?)(?:"(?P<phrase>[^"]*)"?|(?P<key>[A-Za-z]+):"(?P<quoted>[^"]*)"?|(?P<bare>\S+))'
)
_KEY_VALUE = re.compile(r"(?P<key>[A-Za-z]+):(?P<value>.*)", re.DOTALL)
_FILTER_KEYS = frozenset({"author", "cat", "org", "from", "to", "has"})
# arXiv categories: archive[.subject], e.g. cs.CL, hep-th, astro-ph.CO, cond-mat.stat-mech.
_CATEGORY = re.compile(r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?:\.(?P<subject>[a-z]+(?:-[a-z]+)*))?")
_DATE = re.compile(r"(?P<year>\d{4})(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2}))?)?", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A character FTS5's unicode61 tokenizer keeps in a token (letters and digits; everything else
# separates tokens): a word without one has nothing to search for.
_TOKEN_CHAR = re.compile(r"[^\W_]")
# Kana, CJK ideographs and Hangul: unicode61 keeps a run of them as one token, unsegmented.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
DATE_FORMS = "YYYY, YYYY-MM or YYYY-MM-DD"


class QueryError(ValueError):
    """A filter value that cannot be understood; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Term:
    """A word (as typed, e.g. ``V-GRPO``) or a quoted phrase; ``excluded`` for a ``-`` term."""

    words: tuple[str, ...]
    phrase: bool = False
    excluded: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def searchable(self) -> bool:
        """Whether the term holds a letter or digit (``--`` or ``$$`` holds nothing to find)."""
        return any(_TOKEN_CHAR.search(word) for word in self.words)


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions on which papers match. Dates are inclusive days (UTC publication date)."""

    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    has_code: bool = False

    @property
    def active(self) -> bool:
        return bool(
            self.authors
            or self.categories
            or self.orgs
            or self.date_from
            or self.date_to
            or self.has_code
        )


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A parsed query. ``truncated``: the input was longer than the limits and was cut."""

    raw: str
    terms: tuple[Term, ...] = ()
    filters: Filters = field(default_factory=Filters)
    arxiv_id: str | None = None
    truncated: bool = False

    @property
    def positive(self) -> tuple[Term, ...]:
        """Terms to match (not excluded), searchable ones only."""
        return tuple(t for t in self.terms if not t.excluded and t.searchable)

    @property
    def excluded(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.excluded and t.searchable)

    @property
    def text(self) -> str:
        """The positive free text, as typed (what the embedding model sees)."""
        return " ".join(t.text for t in self.terms if not t.excluded)

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: no term to match, no filter and no arXiv id."""
        return not self.positive and not self.filters.active and self.arxiv_id is None


def parse_query(raw: str, *, lenient: bool = False) -> ParsedQuery:
    """Parse a search box query.

    :param lenient: keep a malformed filter as plain text instead of raising (for stored
        queries such as digest topics, which must never fail later).
    :raises QueryError: a filter value is malformed (``from:2026-13``, ``cat:!!``, ``has:pdf``).
    """
    text = raw if isinstance(raw, str) else ""
    truncated = len(text) > MAX_QUERY_CHARS
    if truncated:
        text = text[: MAX_QUERY_CHARS + 1]  # the character after the cut tells a half token
    # Control characters mean nothing in a query, and a NUL ends an FTS5 string early.
    text = _CONTROL.sub(" ", text)
    if truncated:
        # Drop a token cut in half (a half date would read as a malformed filter).
        cut = text[:MAX_QUERY_CHARS]
        if not text[MAX_QUERY_CHARS].isspace():
            last_space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
            if last_space > 0:
                cut = cut[:last_space]
        text = cut
    builder = _Builder(lenient=lenient)
    for match in _TOKEN.finditer(text):
        if len(builder.terms) >= MAX_TERMS:
            truncated = True
            break
        builder.add(match)
    return ParsedQuery(
        raw=raw if isinstance(raw, str) else "",
        terms=tuple(builder.terms),
        filters=builder.filters(),
        arxiv_id=builder.arxiv_id,
        truncated=truncated,
    )


class _Builder:
    def __init__(self, *, lenient: bool) -> None:
        self.lenient = lenient
        self.terms: list[Term] = []
        self.arxiv_id: str | None = None
        self.authors: list[str] = []
        self.categories: list[str] = []
        self.orgs: list[str] = []
        self.date_from: dt.date | None = None
        self.date_to: dt.date | None = None
        self.has_code = False

    def add(self, match: re.Match[str]) -> None:
        excluded = bool(match["minus"])
        if match["phrase"] is not None:
            self._add_term(match["phrase"].split(), phrase=True, excluded=excluded)
            return
        if match["key"] is not None:
            key, value, quoted = match["key"], match["quoted"], True
        else:
            bare = match["bare"]
            if not excluded and self._take_arxiv_id(bare):
                return
            key_value = _KEY_VALUE.fullmatch(bare)
            if key_value is None:
                self._add_term([bare], phrase=False, excluded=excluded)
                return
            key, value, quoted = key_value["key"], key_value["value"], False
        if key.lower() not in _FILTER_KEYS or not value.strip():
            if quoted:  # xyz:"a b" is the word xyz: and the phrase "a b"
                self._add_term([f"{key}:"], phrase=False, excluded=excluded)
                self._add_term(value.split(), phrase=True, excluded=excluded)
            else:
                self._add_term([f"{key}:{value}"], phrase=False, excluded=excluded)
            return
        try:
            if excluded:
                raise QueryError(
                    f"Filters cannot be excluded: remove the “-” before {key}:{value}."
                )
            self._add_filter(key.lower(), value.strip())
        except QueryError:
            if not self.lenient:
                raise
            self._add_term([f"{key}:"], phrase=False, excluded=excluded)
            self._add_term(value.split(), phrase=quoted, excluded=excluded)

    def _add_term(self, words: list[str], *, phrase: bool, excluded: bool) -> None:
        if words:
            kept = tuple(words[:MAX_PHRASE_WORDS])
            self.terms.append(Term(kept, phrase=phrase, excluded=excluded))

    def _take_arxiv_id(self, token: str) -> bool:
        """An id or paper URL: remember the first, and keep none of them as search words."""
        if not any(ch.isdigit() for ch in token):
            return False
        try:
            found = parse_arxiv_id(token)
        except ArxivIdError:
            return False
        if self.arxiv_id is None:
            self.arxiv_id = found.id
        return True

    def _add_filter(self, key: str, value: str) -> None:
        if len(value) > MAX_FILTER_VALUE_CHARS:
            raise QueryError(f"The {key}: value is too long (at most {MAX_FILTER_VALUE_CHARS}).")
        if key == "author":
            name = " ".join(value.split())
            if not _TOKEN_CHAR.search(name):
                raise QueryError('author: needs a name, e.g. author:LeCun or author:"Yann LeCun".')
            _append(self.authors, name, key)
        elif key == "cat":
            parts = [part for part in value.split(",") if part.strip()]
            if not parts:
                raise QueryError("cat: needs an arXiv category, e.g. cat:cs.CL or cat:cs.")
            for part in parts:
                _append(self.categories, normalize_category(part), key)
        elif key == "org":
            name = " ".join(value.split())
            if not name:
                raise QueryError("org: needs an organization name, e.g. org:google.")
            _append(self.orgs, name, key)
        elif key == "from":
            self.date_from = parse_period(value, key)[0]
        elif key == "to":
            self.date_to = parse_period(value, key)[1]
        elif key == "has":
            if value.lower() != "code":
                raise QueryError(f"has:{value} is not a filter; has:code is the one there is.")
            self.has_code = True

    def filters(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            message = (
                f"from:{self.date_from.isoformat()} is after to:{self.date_to.isoformat()}; "
                "swap them or widen the range."
            )
            if not self.lenient:
                raise QueryError(message)
            self.date_from = self.date_to = None
        return Filters(
            authors=tuple(self.authors),
            categories=tuple(self.categories),
            orgs=tuple(self.orgs),
            date_from=self.date_from,
            date_to=self.date_to,
            has_code=self.has_code,
        )


def _append(values: list[str], value: str, key: str) -> None:
    if len(values) >= MAX_FILTER_VALUES:
        raise QueryError(f"At most {MAX_FILTER_VALUES} {key}: filters in one query.")
    if value.casefold() not in (v.casefold() for v in values):
        values.append(value)


def normalize_category(value: str) -> str:
    """The category as arXiv spells it: ``CS.cl`` → ``cs.CL``, ``Physics.Optics`` →
    ``physics.optics``. Two-letter subject classes are upper case (cs.CL, math.AG, q-bio.NC);
    longer ones are lower case (physics.optics, cond-mat.stat-mech).

    :raises QueryError: the value is not shaped like a category.
    """
    match = _CATEGORY.fullmatch(value.strip().lower())
    if match is None or len(value) > 40:
        shown = value.strip()[:40]
        raise QueryError(
            f"cat:{shown} is not an arXiv category; expected e.g. cat:cs.CL, cat:stat.ML, "
            "cat:hep-th or cat:cs (any cs category)."
        )
    subject = match["subject"]
    if subject is None:
        return match["archive"]
    return f"{match['archive']}.{subject.upper() if len(subject) == 2 else subject}"


def parse_period(value: str, key: str = "from") -> tuple[dt.date, dt.date]:
    """First and last day of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

    :raises QueryError: another shape, or a month/day that does not exist.
    """
    match = _DATE.fullmatch(value.strip())
    if match is None:
        raise QueryError(f"{key}:{value[:40]} is not a date; expected {DATE_FORMS}.")
    year = int(match["year"])
    try:
        if match["month"] is None:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        month = int(match["month"])
        if match["day"] is None:
            last = calendar.monthrange(year, month)[1] if 1 <= month <= 12 else 0
            return dt.date(year, month, 1), dt.date(year, month, last)
        day = dt.date(year, month, int(match["day"]))
    except ValueError:
        raise QueryError(f"{key}:{value[:40]} is not a real date; expected {DATE_FORMS}.") from None
    return day, day


def without_authors(filters: Filters) -> Filters:
    """The same filters minus the authors (the lexical branch matches those in FTS5)."""
    return replace(filters, authors=())
