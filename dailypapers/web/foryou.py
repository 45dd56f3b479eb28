"""The "For you" page (``/for-you``, ``/for-you/{date|week|month}/{key}``) and its JSON
(``GET /api/me/for-you``): a period's papers ranked for the signed-in reader, with reasons."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from dailypapers.authors.claims import claimed_users
from dailypapers.community import comment_counts
from dailypapers.foryou.service import rank_for_user
from dailypapers.papers import FeedPage, latest_feed_date
from dailypapers.periods import FeedWindow, PeriodError, day_window, parse_window
from dailypapers.schemas import ForYouItemOut, ForYouOut, daily_paper_out
from dailypapers.web.api import _requested_window
from dailypapers.web.cards import viewer_context
from dailypapers.web.deps import ReadSessionDep, SettingsDep, TemplatesDep
from dailypapers.web.openapi import api, page
from dailypapers.web.security import CurrentUser, session_user

router = APIRouter()
api_router = APIRouter(prefix="/api/me", tags=["for you"])
MAX_LIMIT = 100
PageNumber = Annotated[int, Query(ge=1, le=10_000, description="1-based page number")]
KIND_PATHS = {"date": "day", "week": "week", "month": "month"}


def _latest(session: ReadSessionDep, settings: SettingsDep) -> FeedWindow | None:
    latest = latest_feed_date(session, settings.current_date())
    return day_window(latest) if latest is not None else None


def _page(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    window: FeedWindow | None,
    page_number: int,
) -> HTMLResponse:
    user = session_user(request, session)
    context: dict[str, object] = {"window": window, "signed_in": user is not None}
    if user is None or window is None:
        context.update(viewer_context(session, user, []))
        return templates.TemplateResponse(request, "for_you.html", context)
    size = settings.feed_page_size
    ranked = rank_for_user(
        session,
        user.id,
        window,
        settings.current_date(),
        offset=(page_number - 1) * size,
        limit=size,
    )
    entries = [item.entry for item in ranked.items]
    context.update(viewer_context(session, user, [e.paper_id for e in entries]))
    context.update(
        ranked=ranked,
        feed=FeedPage(entries, ranked.total, page_number - 1, size),
        today=settings.current_date(),
        here=f"/for-you/{'date' if window.kind == 'day' else window.kind}/{window.key}",
    )
    return templates.TemplateResponse(request, "for_you.html", context)


@router.get("/for-you", response_class=HTMLResponse, summary="The latest day, ranked for you")
def for_you_latest(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    return _page(request, session, settings, templates, _latest(session, settings), page)


@router.get(
    "/for-you/{kind}/{key}",
    response_class=HTMLResponse,
    responses=page(400),
    summary="A day, week or month, ranked for you",
)
def for_you_period(
    request: Request,
    kind: Literal["date", "week", "month"],
    key: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> HTMLResponse:
    try:
        window = parse_window(KIND_PATHS[kind], key)  # type: ignore[arg-type]
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None
    return _page(request, session, settings, templates, window, page)


@api_router.get(
    "/for-you",
    response_model=ForYouOut,
    response_model_exclude_none=True,
    responses=api(400, 401),
    summary="A period's papers ranked for you, with reasons",
)
def for_you_api(
    session: ReadSessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    date: Annotated[str | None, Query(description="YYYY-MM-DD", max_length=20)] = None,
    week: Annotated[str | None, Query(description="ISO week, YYYY-Www", max_length=20)] = None,
    month: Annotated[str | None, Query(description="YYYY-MM", max_length=20)] = None,
    p: Annotated[int, Query(ge=0, le=10_000, description="page, from 0")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> ForYouOut:
    """With no date, week or month: the latest feed date that has entries. ``fallback`` says
    the list is the period's trending order because you have saved or upvoted nothing yet."""
    window = _requested_window(date, week, month) or _latest(session, settings)
    if window is None:
        return ForYouOut(items=[], total=0, period="", fallback=True)
    ranked = rank_for_user(
        session, user.id, window, settings.current_date(), offset=p * limit, limit=limit
    )
    counts = comment_counts(session, [item.entry.paper_id for item in ranked.items])
    names = (name for item in ranked.items for name in item.entry.paper.author_names)
    claimed = claimed_users(session, names)
    return ForYouOut(
        items=[
            ForYouItemOut(
                item=daily_paper_out(item.entry, counts.get(item.entry.paper_id, 0), claimed),
                score=round(item.score, 6),
                reasons=item.reasons,
            )
            for item in ranked.items
        ],
        total=ranked.total,
        period=window.key,
        fallback=ranked.fallback,
        message=ranked.reason,
    )
