"""Server-rendered pages: daily / weekly / monthly feeds, trending, paper, about, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.orm import Session

from dailypapers import community, ranking
from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.calendar import day_status
from dailypapers.library import collections, marks, saves
from dailypapers.models import Paper
from dailypapers.papers import (
    FeedQuery,
    feed_page,
    get_paper,
    latest_feed_date,
    neighbour_feed_dates,
    newest_ingested_day,
    submitted_since,
)
from dailypapers.periods import FeedWindow, PeriodError, WindowKind, day_window, parse_window
from dailypapers.web.cards import record_opened, record_visit, viewer_context
from dailypapers.web.deps import ReadSessionDep, SessionDep, SettingsDep, TemplatesDep
from dailypapers.web.markdown import paper_markdown
from dailypapers.web.openapi import MARKDOWN, page
from dailypapers.web.redirects import back
from dailypapers.web.search import related_for_page
from dailypapers.web.security import session_user

router = APIRouter()
PageNumber = Annotated[int, Query(ge=1, le=10_000, description="1-based page number")]


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "error.html",
        {
            "status_code": status_code,
            "message": message,
            "heading": ERROR_HEADINGS.get(status_code, "Something went wrong"),
            # A refused form: the browser's Back keeps what was typed; a link here would not.
            "form_refused": request.method == "POST" and back(request, "") != "",
        },
        status_code=status_code,
    )
    return response


ERROR_HEADINGS = {
    400: "That could not be done",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That clashes with something already there",
    413: "Too large",
    422: "That could not be done",
    429: "Too many requests: wait a little",
}


def _window(kind: WindowKind, key: str) -> FeedWindow:
    try:
        return parse_window(kind, key)
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None


def _feed_response(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    window: FeedWindow,
    page: int,
    *,
    is_home: bool = False,
) -> HTMLResponse:
    today = settings.current_date()
    query = FeedQuery(window=window, until=today)
    result = feed_page(session, query, page=page - 1, page_size=settings.feed_page_size)
    status = None
    if window.kind == "day":
        status = day_status(
            window.start,
            count=result.total,
            today=today,
            newest_ingested=newest_ingested_day(session) if result.total == 0 else None,
            holidays=settings.holidays,
        )
        previous_day, next_day = neighbour_feed_dates(session, window.start, today)
        previous = day_window(previous_day) if previous_day else None
        following = day_window(next_day) if next_day else None
    else:
        previous = window.shifted(-1)
        following = window.shifted(1) if window.shifted(1).start <= today else None
    user = session_user(request, session)
    record_visit(request, user)
    new_since = user.previous_visit_at if user is not None and window.kind == "day" else None
    context: dict[str, Any] = {
        **viewer_context(session, user, [e.paper_id for e in result.entries]),
        "new_since": new_since,
        "new_count": submitted_since(session, window, new_since) if new_since else 0,
        "window": window,
        "feed": result,
        "previous": previous,
        "following": following,
        "is_home": is_home,
        "today": today,
        "is_future": window.start > today,
        "day_status": status,
        "feed_url": f"/feeds/{window.kind}/{window.key}.atom",
    }
    return templates.TemplateResponse(request, "feed.html", context)


@router.get("/", response_class=HTMLResponse, summary="The latest day's papers")
def home(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    latest = latest_feed_date(session, settings.current_date())
    if latest is None:
        return templates.TemplateResponse(request, "empty.html", {})
    return _feed_response(
        request, session, settings, templates, day_window(latest), page, is_home=True
    )


@router.get(
    "/papers/date/{day}",
    response_class=HTMLResponse,
    responses=page(400),
    summary="Papers of one day",
)
def papers_of_day(
    request: Request,
    day: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    return _feed_response(request, session, settings, templates, _window("day", day), page)


@router.get(
    "/papers/week/{week}",
    response_class=HTMLResponse,
    responses=page(400),
    summary="Papers of an ISO week",
)
def papers_of_week(
    request: Request,
    week: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    return _feed_response(request, session, settings, templates, _window("week", week), page)


@router.get(
    "/papers/month/{month}",
    response_class=HTMLResponse,
    responses=page(400),
    summary="Papers of a month",
)
def papers_of_month(
    request: Request,
    month: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    return _feed_response(request, session, settings, templates, _window("month", month), page)


@router.get("/papers/trending", response_class=HTMLResponse, summary="Trending papers")
def trending(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    query = FeedQuery(window=None, until=settings.current_date(), sort="trending")
    result = feed_page(session, query, page=page - 1, page_size=settings.feed_page_size)
    explanations = {
        entry.id: ranking.explain_trending(
            entry.paper.upvotes, entry.submitted_at, settings.trending_window_hours
        )
        for entry in result.entries
    }
    user = session_user(request, session)
    context = {
        "feed": result,
        "explanations": explanations,
        "feed_url": "/feeds/trending.atom",
        **viewer_context(session, user, [e.paper_id for e in result.entries]),
    }
    return templates.TemplateResponse(request, "trending.html", context)


@router.get("/about/ranking", response_class=HTMLResponse, summary="How lists are ranked")
def about_ranking(request: Request, settings: SettingsDep, templates: TemplatesDep) -> HTMLResponse:
    context = {"window_hours": settings.trending_window_hours, "epoch": ranking.TRENDING_EPOCH}
    return templates.TemplateResponse(request, "about_ranking.html", context)


@router.get(
    "/healthz",
    responses={503: {"description": "The database does not answer"}},
    summary="Liveness and database check",
)
def healthz(session: SessionDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "unhealthy", never a 500 page
        return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def render_paper(
    request: Request,
    session: Session,
    templates: Jinja2Templates,
    paper: Paper,
    *,
    comment_error: str | None = None,
    draft: str = "",
    status_code: int = 200,
    opening: bool = False,
) -> HTMLResponse:
    """The paper page with its votes and comments (also re-rendered by a refused comment, with
    the text kept). ``opening``: a reader's GET, remembered as opened; never from inside a
    write transaction (the SQLite writer lock is not reentrant)."""
    user = session_user(request, session)
    is_moderator = user is not None and user.role in ("moderator", "admin")
    state = marks.states_for(session, user, [paper.id]).get(paper.id, marks.NO_STATE)
    if opening:
        record_opened(request, user, paper.id, state.opened)
    context = {
        "state": state,
        "note": saves.note_of(session, user, paper.id),
        "collections": collections.collections_of(session, user) if user else [],
        "in_collections": collections.memberships(session, user, [paper.id]).get(paper.id, set())
        if user
        else set(),
        "paper": paper,
        "entry": paper.daily_entry,
        "user": user,
        "is_moderator": is_moderator,
        "voted": bool(community.voted_papers(session, user, [paper.id])),
        "thread": community.comment_thread(session, paper.id, include_hidden=is_moderator),
        "comment_error": comment_error,
        "draft": draft,
        "related": related_for_page(session, request.app.state.settings, paper),
    }
    return templates.TemplateResponse(request, "paper.html", context, status_code=status_code)


@router.get(
    "/papers/{paper_path:path}",
    response_class=HTMLResponse,
    responses={200: {"content": MARKDOWN}, **page(400, 404)},
    summary="A paper's page, or its Markdown with .md",
)
def paper_page(
    request: Request,
    paper_path: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
) -> Response:
    as_markdown = paper_path.endswith(".md")
    try:
        arxiv_id = parse_arxiv_id(paper_path.removesuffix(".md")).id
    except ArxivIdError as exc:
        # The Markdown form is part of the API contract: a malformed id there is a 400.
        raise HTTPException(400 if as_markdown else 404, f"No such paper: {exc}") from None
    user = session_user(request, session)
    moderator = user is not None and user.role in ("moderator", "admin")
    # Moderators still reach a hidden paper's page, to show it again.
    paper = get_paper(session, arxiv_id, include_hidden=moderator and not as_markdown)
    if paper is None:
        raise HTTPException(404, f"Paper {arxiv_id} is not in this site's store.")
    if as_markdown:
        return PlainTextResponse(
            paper_markdown(paper, settings.base_url), media_type="text/markdown; charset=utf-8"
        )
    return render_paper(request, session, templates, paper, opening=True)
