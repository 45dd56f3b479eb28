"""Alert feeds, Atom and JSON Feed 1.1: a user's private feed of matches (``/feeds/me/{token}``)
and public feeds of a saved search, an author (by slug) and an arXiv category
(docs/follows.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from dailypapers.alerts import feeds as alert_feeds
from dailypapers.authors.names import author_slug, key_of_slug
from dailypapers.models import Paper
from dailypapers.search.lexical import MAX_QUERY_CHARS, searchable
from dailypapers.search.query import QueryError, normalize_category
from dailypapers.web.deps import ReadSessionDep, SettingsDep
from dailypapers.web.feeds import ATOM_TYPE, FeedItem, build_atom, build_json_feed, xml_text
from dailypapers.web.library import JSON_FEED_TYPE
from dailypapers.web.openapi import Responses, page

router = APIRouter(prefix="/feeds", tags=["feeds"])
Format = Literal["atom", "json"]
FEEDS: Responses = {
    200: {
        "content": {
            "application/atom+xml": {"schema": {"type": "string"}},
            JSON_FEED_TYPE: {"schema": {"type": "object"}},
        }
    }
}


def _respond(
    settings: SettingsDep,
    form: Format,
    *,
    feed_path: str,
    page_path: str,
    title: str,
    items: Sequence[FeedItem],
) -> Response:
    path = f"{feed_path}.{form}"
    title = xml_text(title)  # a query may hold characters XML forbids
    if form == "atom":
        body = build_atom(settings, feed_path=path, page_path=page_path, title=title, items=items)
        return Response(body, media_type=ATOM_TYPE)
    document = build_json_feed(
        settings, feed_path=path, page_path=page_path, title=title, items=items
    )
    return JSONResponse(document, media_type=JSON_FEED_TYPE)


def _stored(papers: Sequence[Paper]) -> list[FeedItem]:
    return [FeedItem(paper, paper.created_at) for paper in papers]


@router.get(
    "/me/{token}.{form}",
    response_class=Response,
    responses={**FEEDS, **page(404)},
    summary="A user's private alerts feed (the token is on the Following page)",
)
def my_alerts(token: str, form: Format, session: ReadSessionDep, settings: SettingsDep) -> Response:
    user_id = alert_feeds.user_of_token(session, token)
    if user_id is None:
        raise HTTPException(404, "No feed has this address (it may have been regenerated).")
    items = [
        FeedItem(paper, at, reasons)
        for paper, at, reasons in alert_feeds.alert_items(session, user_id)
    ]
    return _respond(
        settings,
        form,
        feed_path=f"/feeds/me/{token}",
        page_path="/account/follows",
        title="From your follows",
        items=items,
    )


@router.get(
    "/search.{form}",
    response_class=Response,
    responses={**FEEDS, **page(400)},
    summary="Public feed of a saved search (filters included), newest first",
)
def search_feed(
    form: Format,
    session: ReadSessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
) -> Response:
    if "\x00" in q or not searchable(q):
        raise HTTPException(400, "q needs a word to search for or a filter (author:, cat:, …).")
    return _respond(
        settings,
        form,
        feed_path="/feeds/search",
        page_path=f"/search?q={quote(q)}",
        title=f"Search “{q}”",
        items=_stored(alert_feeds.search_papers(session, q)),
    )


@router.get(
    "/authors/{slug}.{form}",
    response_class=Response,
    responses={**FEEDS, **page(400)},
    summary="Public feed of an author's papers (by the author page's slug)",
)
def author_feed(
    slug: str, form: Format, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    if len(slug) > 300 or not key_of_slug(slug):
        raise HTTPException(400, "An author slug is the name's words joined by hyphens.")
    canonical = author_slug(key_of_slug(slug))
    return _respond(
        settings,
        form,
        feed_path=f"/feeds/authors/{canonical}",
        page_path=f"/authors/{canonical}",
        title=f"Papers by {key_of_slug(slug).title()}",
        items=_stored(alert_feeds.author_papers(session, slug)),
    )


@router.get(
    "/categories/{category}.{form}",
    response_class=Response,
    responses={**FEEDS, **page(400)},
    summary="Public feed of an arXiv category (cs.CL) or archive (cs)",
)
def category_feed(
    category: str, form: Format, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    try:
        name = normalize_category(category)
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from None
    return _respond(
        settings,
        form,
        feed_path=f"/feeds/categories/{name}",
        page_path=f"/search?q={quote(f'cat:{name}')}",
        title=f"Papers in {name}",
        items=_stored(alert_feeds.category_papers(session, name)),
    )
