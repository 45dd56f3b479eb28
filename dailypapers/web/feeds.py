"""Atom feeds of every list (day, week, month, trending, latest), built with feedgen."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from html import escape
from typing import Any, NamedTuple

from fastapi import APIRouter, HTTPException, Response
from feedgen.feed import FeedGenerator

from dailypapers import arxiv_ids
from dailypapers.config import Settings
from dailypapers.models import DailyEntry, Paper
from dailypapers.papers import FeedQuery, feed_page, latest_feed_date
from dailypapers.periods import FeedWindow, PeriodError, WindowKind, day_window, parse_window
from dailypapers.web.deps import ReadSessionDep, SettingsDep
from dailypapers.web.openapi import ATOM, page

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# Characters XML 1.0 forbids: ingestion drops them, and feeds drop them again so no stored
# text (whatever wrote it) can turn a feed into a 500.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


FEED_SIZE = 50


def _entry_html(abstract: str, arxiv_id: str, upvotes: int) -> str:
    links = (
        f'<a href="{arxiv_ids.abs_url(arxiv_id)}">arXiv</a> · '
        f'<a href="{arxiv_ids.pdf_url(arxiv_id)}">PDF</a> · {upvotes} upvotes'
    )
    return f"<p>{escape(abstract)}</p><p>{links}</p>" if abstract else f"<p>{links}</p>"


class FeedItem(NamedTuple):
    """A paper in a feed, when it joined the list the feed follows, and (alerts) why."""

    paper: Paper
    added_at: dt.datetime
    reasons: tuple[str, ...] = ()


def _why_html(reasons: Sequence[str]) -> str:
    return f"<p>Why: {escape('; '.join(reasons))}</p>" if reasons else ""


def entry_items(entries: Sequence[DailyEntry]) -> list[FeedItem]:
    return [FeedItem(entry.paper, entry.submitted_at) for entry in entries]


def build_atom(
    settings: Settings, *, feed_path: str, page_path: str, title: str, items: Sequence[FeedItem]
) -> bytes:
    """An Atom document whose entries link to our paper pages (ids are stable page URLs)."""
    base = settings.base_url
    generator = FeedGenerator()
    generator.id(f"{base}{feed_path}")
    generator.title(f"{settings.site_name}: {title}")
    generator.link(href=f"{base}{page_path}", rel="alternate", type="text/html")
    generator.link(href=f"{base}{feed_path}", rel="self", type="application/atom+xml")
    generator.language("en")
    newest = max((item.added_at for item in items), default=None)
    if newest is not None:
        generator.updated(newest)
    # feedgen prepends entries; add them in reverse so the document keeps our order.
    for paper, added_at, reasons in reversed(items):
        item = generator.add_entry()
        item.id(f"{base}/papers/{paper.arxiv_id}")
        item.title(xml_text(paper.title))
        # One link only: feedgen 1.0.0 drops the rel of entry links, and two links without
        # rel would both be "alternate". The arXiv and PDF links go in the content instead.
        item.link(href=f"{base}/papers/{paper.arxiv_id}")
        for name in paper.author_names:
            item.author({"name": xml_text(name)})
        item.summary(xml_text(paper.abstract or paper.title))
        body = _why_html(reasons) + _entry_html(paper.abstract, paper.arxiv_id, paper.upvotes)
        item.content(xml_text(body), type="html")
        item.published(added_at)
        item.updated(paper.modified_at if paper.modified_at > added_at else added_at)
        for category in paper.categories or []:
            item.category(term=category)
    return bytes(generator.atom_str(pretty=True))


def build_json_feed(
    settings: Settings, *, feed_path: str, page_path: str, title: str, items: Sequence[FeedItem]
) -> dict[str, Any]:
    """A JSON Feed 1.1 document (https://www.jsonfeed.org/version/1.1/) of the same items."""
    base = settings.base_url
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"{settings.site_name}: {title}",
        "home_page_url": f"{base}{page_path}",
        "feed_url": f"{base}{feed_path}",
        "language": "en",
        "items": [
            {
                "id": f"{base}/papers/{paper.arxiv_id}",
                "url": f"{base}/papers/{paper.arxiv_id}",
                "external_url": arxiv_ids.abs_url(paper.arxiv_id),
                "title": paper.title,
                "content_text": paper.abstract or paper.title,
                **({"summary": "; ".join(reasons)} if reasons else {}),
                "date_published": added_at.isoformat(),
                "date_modified": max(paper.modified_at, added_at).isoformat(),
                "authors": [{"name": name} for name in paper.author_names],
                "tags": list(paper.categories or []),
            }
            for paper, added_at, reasons in items
        ],
    }


def _window_feed(
    session: ReadSessionDep, settings: SettingsDep, window: FeedWindow, feed_path: str
) -> Response:
    query = FeedQuery(window=window, until=settings.current_date())
    entries = feed_page(session, query, page=0, page_size=FEED_SIZE).entries
    page_path = f"/papers/{'date' if window.kind == 'day' else window.kind}/{window.key}"
    body = build_atom(
        settings,
        feed_path=feed_path,
        page_path=page_path,
        title=window.label,
        items=entry_items(entries),
    )
    return Response(body, media_type=ATOM_TYPE)


def _parsed(kind: WindowKind, key: str) -> FeedWindow:
    try:
        return parse_window(kind, key)
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get(
    "/day/{day}.atom",
    response_class=Response,
    responses={**ATOM, **page(400)},
    summary="Atom feed of one day",
)
def day_feed(day: str, session: ReadSessionDep, settings: SettingsDep) -> Response:
    return _window_feed(session, settings, _parsed("day", day), f"/feeds/day/{day}.atom")


@router.get(
    "/week/{week}.atom",
    response_class=Response,
    responses={**ATOM, **page(400)},
    summary="Atom feed of an ISO week",
)
def week_feed(week: str, session: ReadSessionDep, settings: SettingsDep) -> Response:
    return _window_feed(session, settings, _parsed("week", week), f"/feeds/week/{week}.atom")


@router.get(
    "/month/{month}.atom",
    response_class=Response,
    responses={**ATOM, **page(400)},
    summary="Atom feed of a month",
)
def month_feed(month: str, session: ReadSessionDep, settings: SettingsDep) -> Response:
    return _window_feed(session, settings, _parsed("month", month), f"/feeds/month/{month}.atom")


@router.get(
    "/latest.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed that always holds the latest day",
)
def latest_feed(session: ReadSessionDep, settings: SettingsDep) -> Response:
    latest = latest_feed_date(session, settings.current_date())
    window = day_window(latest or settings.current_date())
    return _window_feed(session, settings, window, "/feeds/latest.atom")


@router.get(
    "/trending.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed of trending papers",
)
def trending_feed(session: ReadSessionDep, settings: SettingsDep) -> Response:
    query = FeedQuery(window=None, until=settings.current_date(), sort="trending")
    entries = feed_page(session, query, page=0, page_size=FEED_SIZE).entries
    body = build_atom(
        settings,
        feed_path="/feeds/trending.atom",
        page_path="/papers/trending",
        title="Trending",
        items=entry_items(entries),
    )
    return Response(body, media_type=ATOM_TYPE)
