"""Turn raw source records into clean, typed records (pure: no database or web imports).

Two record types: ``DailyPaperRecord`` (a paper on a day of the Hugging Face list) and
``ArxivRecord`` (arXiv metadata, from the snapshot, OAI-PMH or the arXiv API; those sources first
reshape their records into the public snapshot's JSON schema, the one form normalized here).
Text goes through ``ingest/text.py``: whitespace collapsed, NFC, common LaTeX to Unicode with the
source text kept when the clean-up changed it; URLs that are not http(s) are dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from dailypapers.arxiv_ids import ArxivId, ArxivIdError, parse_arxiv_id
from dailypapers.ingest.text import (
    RecordError,
    clean_avatar_url,
    clean_text,
    clean_url,
    latex_to_unicode,
    split_authors,
)

MAX_TITLE_LENGTH = 1000
MAX_ABSTRACT_LENGTH = 20_000
MAX_AUTHORS = 5000
MAX_AUTHOR_NAME = 300  # the authors.name column's length
MAX_CATEGORY = 64


@dataclass(frozen=True, slots=True)
class SubmitterRef:
    username: str
    fullname: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class OrgRef:
    name: str
    fullname: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class DailyPaperRecord:
    """One paper on one day of the Daily Papers list, as read from a source."""

    arxiv_id: str
    version: int | None
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published_at: dt.datetime | None
    feed_date: dt.date
    submitted_at: dt.datetime
    upvotes: int
    upvotes_read_at: dt.datetime | None
    title_raw: str | None = None
    abstract_raw: str | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] | None = None
    submitter: SubmitterRef | None = None
    organization: OrgRef | None = None


def parse_timestamp(value: Any, field: str) -> dt.datetime | None:
    """An ISO 8601 time as aware UTC; naive times are taken as UTC (as the sources write them)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field}: expected an ISO 8601 time, got {type(value).__name__}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{field}: {value[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise RecordError(f"{field}: {value[:40]!r} is out of range") from None


def parse_feed_date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise RecordError("daily_date: missing; expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise RecordError(f"daily_date: {value[:40]!r} is not a YYYY-MM-DD date") from None


def _author_names(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        items: list[Any] = split_authors(value)
    elif isinstance(value, list):
        items = value
    else:
        raise RecordError(f"authors: expected a list, got {type(value).__name__}")
    names: dict[str, None] = {}  # ordered and de-duplicated
    for item in items[:MAX_AUTHORS]:
        raw = item.get("name") if isinstance(item, dict) else item
        if isinstance(item, dict) and item.get("hidden"):
            continue
        name = latex_to_unicode(clean_text(raw if isinstance(raw, str) else None))
        if len(name) > MAX_AUTHOR_NAME:
            # Long "names" are collaborations or a failed split upstream: keep, shortened.
            name = name[: MAX_AUTHOR_NAME - 1].rstrip() + "…"
        if name:
            names[name] = None
    return tuple(names)


def _categories(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    parts = value.split() if isinstance(value, str) else value
    if not isinstance(parts, list):
        raise RecordError(f"categories: expected a list or string, got {type(value).__name__}")
    # Only short words: a category becomes a URL path and a filter term.
    cleaned = (clean_text(part) for part in parts if isinstance(part, str))
    return tuple(dict.fromkeys(part for part in cleaned if 0 < len(part) <= MAX_CATEGORY))


def _keywords(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(clean_text(item, limit=200) for item in value if isinstance(item, str))


MAX_COUNT = 2**31 - 1  # fits every database's INTEGER


def _count(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise RecordError(
            f"{field}: expected a whole number from 0 to {MAX_COUNT}, got {value!r}"[:120]
        )
    return value


def _optional_count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
    return value if ok else None


def _user_ref(value: Any) -> SubmitterRef | None:
    if not isinstance(value, dict):
        return None
    username = clean_text(value.get("user") or value.get("name"), limit=100)
    if not username:
        return None
    return SubmitterRef(
        username=username,
        fullname=clean_text(value.get("fullname"), limit=200),
        avatar_url=clean_avatar_url(value.get("avatarUrl")),
    )


def _org_ref(value: Any) -> OrgRef | None:
    if not isinstance(value, dict):
        return None
    name = clean_text(value.get("name"), limit=100)
    if not name:
        return None
    return OrgRef(
        name, clean_text(value.get("fullname"), limit=200), clean_url(value.get("avatarUrl"))
    )


def normalize_hf_daily(data: dict[str, Any]) -> DailyPaperRecord:
    """Normalize one record of either Hugging Face shape (see ``sources/hf_daily.py``).

    Unknown fields are ignored. :raises RecordError: for a missing or invalid id, title or date.
    """
    if isinstance(data.get("paper"), dict):
        return _normalize_api_item(data)
    return _normalize_crawl_record(data)


def _parse_id(value: Any) -> tuple[str, int | None]:
    if not isinstance(value, str):
        raise RecordError("arxiv_id: missing")
    try:
        parsed = parse_arxiv_id(value)
    except ArxivIdError as exc:
        raise RecordError(f"arxiv_id: {exc}") from None
    return parsed.id, parsed.version


def display_text(value: Any, *, limit: int) -> tuple[str, str | None]:
    """(text for display and search, the source text if LaTeX clean-up changed it)."""
    raw = clean_text(value, limit=limit)
    shown = latex_to_unicode(raw)
    return shown, (raw if shown != raw else None)


def _title(value: Any) -> tuple[str, str | None]:
    title, raw = display_text(value, limit=MAX_TITLE_LENGTH)
    if not title:
        raise RecordError("title: missing or empty")
    return title, raw


def _normalize_crawl_record(data: dict[str, Any]) -> DailyPaperRecord:
    arxiv_id, version = _parse_id(data.get("arxiv_id"))
    feed_date = parse_feed_date(data.get("daily_date"))
    title, title_raw = _title(data.get("title"))
    abstract, abstract_raw = display_text(data.get("abstract"), limit=MAX_ABSTRACT_LENGTH)
    return DailyPaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        title_raw=title_raw,
        abstract=abstract,
        abstract_raw=abstract_raw,
        authors=_author_names(data.get("authors")),
        categories=_categories(data.get("categories")),
        published_at=parse_timestamp(data.get("published_at"), "published_at"),
        feed_date=feed_date,
        submitted_at=parse_timestamp(data.get("submitted_at"), "submitted_at")
        or dt.datetime.combine(feed_date, dt.time(), tzinfo=dt.UTC),
        upvotes=_count(data.get("upvotes"), "upvotes"),
        upvotes_read_at=parse_timestamp(data.get("upvotes_fetched_at"), "upvotes_fetched_at"),
        github_repo=clean_url(data.get("github_repo")),
        github_stars=_optional_count(data.get("github_stars")),
        project_page=clean_url(data.get("project_page")),
        ai_summary=clean_text(data.get("ai_summary"), limit=MAX_ABSTRACT_LENGTH) or None,
        ai_keywords=_keywords(data.get("ai_keywords")),
    )


def _normalize_api_item(item: dict[str, Any]) -> DailyPaperRecord:
    paper: dict[str, Any] = item["paper"]
    arxiv_id, version = _parse_id(paper.get("id"))
    submitted_at = parse_timestamp(
        paper.get("submittedOnDailyAt") or item.get("publishedAt"), "publishedAt"
    )
    if submitted_at is None:
        raise RecordError("publishedAt: missing; the item's Daily Papers time is required")
    title, title_raw = _title(paper.get("title") or item.get("title"))
    abstract, abstract_raw = display_text(
        paper.get("summary") or item.get("summary"), limit=MAX_ABSTRACT_LENGTH
    )
    # Hugging Face dates its daily lists in UTC; keep its day whatever the site timezone.
    return DailyPaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        title_raw=title_raw,
        abstract=abstract,
        abstract_raw=abstract_raw,
        authors=_author_names(paper.get("authors")),
        categories=_categories(paper.get("categories")),
        published_at=parse_timestamp(paper.get("publishedAt"), "paper.publishedAt"),
        feed_date=submitted_at.date(),
        submitted_at=submitted_at,
        upvotes=_count(paper.get("upvotes"), "paper.upvotes"),
        upvotes_read_at=None,
        github_repo=clean_url(paper.get("githubRepo")),
        github_stars=_optional_count(paper.get("githubStars")),
        project_page=clean_url(paper.get("projectPage")),
        ai_summary=clean_text(paper.get("ai_summary"), limit=MAX_ABSTRACT_LENGTH) or None,
        ai_keywords=_keywords(paper.get("ai_keywords")),
        submitter=_user_ref(item.get("submittedBy") or paper.get("submittedOnDailyBy")),
        organization=_org_ref(item.get("organization") or paper.get("organization")),
    )


# --- arXiv metadata ------------------------------------------------------------------------

_WITHDRAWN = ("this paper has been withdrawn", "this submission has been withdrawn", "withdrawn")
MAX_COMMENTS_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class ArxivRecord:
    """arXiv's metadata for one paper, at its latest version."""

    arxiv_id: str
    version: int | None
    versions: tuple[tuple[int, dt.datetime | None], ...]
    title: str
    title_raw: str | None
    abstract: str
    abstract_raw: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    comments: str | None
    journal_ref: str | None
    doi: str | None
    license: str | None
    published_at: dt.datetime | None
    revised_at: dt.datetime | None
    listing_date: dt.date | None
    withdrawn: bool


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}


def _rfc2822(value: Any, field: str) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    # Fast path for arXiv's fixed form "Wed, 17 Jun 2026 00:00:00 GMT" (email.utils is slower).
    parts = value.split()
    if len(parts) == 6 and parts[5] == "GMT" and parts[2] in _MONTHS and len(parts[4]) == 8:
        try:
            hour, minute, second = (int(x) for x in parts[4].split(":"))
            return dt.datetime(
                int(parts[3]), _MONTHS[parts[2]], int(parts[1]), hour, minute, second, tzinfo=dt.UTC
            )
        except ValueError:
            pass  # fall through to the general parser, which reports the problem
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return parse_timestamp(value, field)  # some sources give ISO 8601 instead
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise RecordError(f"{field}: {value[:40]!r} is out of range") from None


def _day(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field}: expected YYYY-MM-DD, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise RecordError(f"{field}: {value[:40]!r} is not a YYYY-MM-DD date") from None


def _versions(value: Any) -> tuple[tuple[int, dt.datetime | None], ...]:
    if not isinstance(value, list):
        return ()
    found: dict[int, dt.datetime | None] = {}
    for item in value:
        if not isinstance(item, dict):
            continue
        label = str(item.get("version", "")).strip().lower().removeprefix("v")
        if label.isascii() and label.isdigit() and 0 < len(label) <= 4 and int(label) > 0:
            found[int(label)] = _rfc2822(item.get("created"), "versions.created")
    return tuple(sorted(found.items()))


def _parsed_author_names(value: Any) -> list[str] | None:
    """``authors_parsed`` rows ``[last, first, suffix]`` as display names."""
    if not isinstance(value, list) or not value:
        return None
    names = []
    for row in value:
        if isinstance(row, list) and row and all(isinstance(part, str) for part in row):
            last, first, suffix = [*row, "", ""][:3]
            names.append(" ".join(part for part in (first, last, suffix) if part.strip()))
    return names or None


def _optional(value: Any, *, limit: int) -> str | None:
    if value is None:
        return None
    return clean_text(value, limit=limit) or None


def normalize_arxiv(data: dict[str, Any], *, parsed_id: ArxivId | None = None) -> ArxivRecord:
    """Normalize a record in the public snapshot schema or the cs-listings schema.

    Published = the first version's date (listing schema: ``listing_date``); revised = the last
    version's date, else ``update_date``. ``authors`` and ``categories`` may be null.
    ``parsed_id``: the caller's already parsed ``id`` (saves parsing it twice in bulk loads).
    :raises RecordError: for a missing or malformed id or title, or a bad date.
    """
    if parsed_id is not None:
        arxiv_id, id_version = parsed_id.id, parsed_id.version
    else:
        arxiv_id, id_version = _parse_id(data.get("id"))
    title, title_raw = _title(data.get("title"))
    abstract, abstract_raw = display_text(data.get("abstract"), limit=MAX_ABSTRACT_LENGTH)
    authors_value = data.get("authors_list") or data.get("authors")
    authors = _author_names(authors_value)
    if not authors:
        authors = _author_names(_parsed_author_names(data.get("authors_parsed")))
    versions = _versions(data.get("versions"))
    listing_date = _day(data.get("listing_date"), "listing_date")
    listing_midnight = (
        dt.datetime.combine(listing_date, dt.time(), tzinfo=dt.UTC) if listing_date else None
    )
    created_day = _day(data.get("created"), "created")
    published_at = (
        (versions[0][1] if versions else None)
        or (dt.datetime.combine(created_day, dt.time(), tzinfo=dt.UTC) if created_day else None)
        or listing_midnight
    )
    update_day = _day(data.get("update_date"), "update_date")
    revision_dates = [
        moment
        for moment in (
            versions[-1][1] if versions else None,
            dt.datetime.combine(update_day, dt.time(), tzinfo=dt.UTC) if update_day else None,
        )
        if moment is not None
    ]
    revised_at = max(revision_dates) if revision_dates else published_at
    comments = _optional(data.get("comments"), limit=MAX_COMMENTS_LENGTH)
    withdrawn = any(
        text is not None and text.lower().startswith(_WITHDRAWN) for text in (comments, abstract)
    )
    return ArxivRecord(
        arxiv_id=arxiv_id,
        version=versions[-1][0] if versions else id_version,
        versions=versions,
        title=title,
        title_raw=title_raw,
        abstract=abstract,
        abstract_raw=abstract_raw,
        authors=authors,
        categories=_categories(data.get("categories")),
        comments=comments,
        journal_ref=_optional(data.get("journal-ref"), limit=MAX_COMMENTS_LENGTH),
        doi=_optional(data.get("doi"), limit=200),
        license=_optional(data.get("license"), limit=200),
        published_at=published_at,
        revised_at=revised_at,
        listing_date=listing_date,
        withdrawn=withdrawn,
    )
