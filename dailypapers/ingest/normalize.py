"""Turn raw source records into clean, typed records (pure: no database or web imports).

Text is NFC-normalized with runs of whitespace collapsed; LaTeX such as ``$\\chi_{0}$`` is kept
verbatim (the pages escape it). URLs that are not http(s) are dropped so none can become a
``javascript:`` link.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id

_WHITESPACE = re.compile(r"\s+")
# C0/C1 control characters other than whitespace: never meaningful in titles or abstracts.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_TITLE_LENGTH = 1000
MAX_ABSTRACT_LENGTH = 20_000
MAX_AUTHORS = 5000


class RecordError(ValueError):
    """A record that cannot be stored; the message says which field is wrong."""


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
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] | None = None
    submitter: SubmitterRef | None = None
    organization: OrgRef | None = None


def clean_text(value: Any, *, limit: int | None = None) -> str:
    """NFC text with control characters removed and whitespace runs collapsed to one space."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}")
    text = _WHITESPACE.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", value))).strip()
    if limit is not None and len(text) > limit:
        raise RecordError(f"text of {len(text)} characters is longer than the limit of {limit}")
    return text


def clean_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    if url.lower().startswith(("https://", "http://")) and len(url) <= 500 and " " not in url:
        return url
    return None


def clean_avatar_url(value: Any) -> str | None:
    """Hugging Face gives its own avatars as site-relative paths; make them absolute."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return clean_url(f"https://huggingface.co{value}")
    return clean_url(value)


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
    return parsed.astimezone(dt.UTC)


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
        items: list[Any] = re.split(r",\s*|\s+and\s+", value)
    elif isinstance(value, list):
        items = value
    else:
        raise RecordError(f"authors: expected a list, got {type(value).__name__}")
    names: list[str] = []
    for item in items[:MAX_AUTHORS]:
        raw = item.get("name") if isinstance(item, dict) else item
        if isinstance(item, dict) and item.get("hidden"):
            continue
        name = clean_text(raw if isinstance(raw, str) else None, limit=300)
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _categories(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    parts = value.split() if isinstance(value, str) else value
    if not isinstance(parts, list):
        raise RecordError(f"categories: expected a list or string, got {type(value).__name__}")
    return tuple(dict.fromkeys(str(part).strip() for part in parts if str(part).strip()))


def _keywords(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(clean_text(item, limit=200) for item in value if isinstance(item, str))


def _count(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordError(f"{field}: expected a whole number ≥ 0, got {value!r}"[:120])
    return value


def _optional_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


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


def _midnight_utc(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def normalize_hf_daily(data: dict[str, Any], tz: ZoneInfo) -> DailyPaperRecord:
    """Normalize one record of either Hugging Face shape (see ``sources/hf_daily.py``).

    Unknown fields are ignored. :raises RecordError: for a missing or invalid id, title or date.
    """
    if isinstance(data.get("paper"), dict):
        return _normalize_api_item(data)
    return _normalize_crawl_record(data, tz)


def _parse_id(value: Any) -> tuple[str, int | None]:
    if not isinstance(value, str):
        raise RecordError("arxiv_id: missing")
    try:
        parsed = parse_arxiv_id(value)
    except ArxivIdError as exc:
        raise RecordError(f"arxiv_id: {exc}") from None
    return parsed.id, parsed.version


def _title(value: Any) -> str:
    title = clean_text(value, limit=MAX_TITLE_LENGTH)
    if not title:
        raise RecordError("title: missing or empty")
    return title


def _normalize_crawl_record(data: dict[str, Any], tz: ZoneInfo) -> DailyPaperRecord:
    arxiv_id, version = _parse_id(data.get("arxiv_id"))
    feed_date = parse_feed_date(data.get("daily_date"))
    return DailyPaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=_title(data.get("title")),
        abstract=clean_text(data.get("abstract"), limit=MAX_ABSTRACT_LENGTH),
        authors=_author_names(data.get("authors")),
        categories=_categories(data.get("categories")),
        published_at=parse_timestamp(data.get("published_at"), "published_at"),
        feed_date=feed_date,
        submitted_at=parse_timestamp(data.get("submitted_at"), "submitted_at")
        or _midnight_utc(feed_date, tz),
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
    # Hugging Face dates its daily lists in UTC; keep its day whatever the site timezone.
    return DailyPaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=_title(paper.get("title") or item.get("title")),
        abstract=clean_text(paper.get("summary") or item.get("summary"), limit=MAX_ABSTRACT_LENGTH),
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
