"""JSON API compatible with Hugging Face's papers API (DESIGN.md §5)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from dailypapers.authors.claims import claimed_users
from dailypapers.community import comment_counts
from dailypapers.papers import FeedQuery, feed_page, latest_feed_date
from dailypapers.periods import (
    FeedWindow,
    PeriodError,
    day_window,
    parse_day,
    parse_month,
    parse_week,
)
from dailypapers.schemas import DailyPaperOut, PaperOut, daily_paper_out, paper_out
from dailypapers.web.deps import ReadSessionDep, SettingsDep, paper_or_404
from dailypapers.web.openapi import api

router = APIRouter(prefix="/api", tags=["api"])
MAX_LIMIT = 100


def _requested_window(date: str | None, week: str | None, month: str | None) -> FeedWindow | None:
    given = [
        (name, value) for name, value in (("date", date), ("week", week), ("month", month)) if value
    ]
    if len(given) > 1:
        raise HTTPException(400, "give at most one of date, week and month")
    if not given:
        return None
    name, value = given[0]
    parser = {"date": parse_day, "week": parse_week, "month": parse_month}[name]
    try:
        return parser(value)
    except PeriodError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


@router.get(
    "/daily_papers",
    response_model=list[DailyPaperOut],
    response_model_exclude_none=True,
    responses=api(400),
    summary="Papers on the Daily Papers list for a date, week or month",
)
def daily_papers(
    session: ReadSessionDep,
    settings: SettingsDep,
    date: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    week: Annotated[str | None, Query(description="ISO week, YYYY-Www")] = None,
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
    submitter: Annotated[str | None, Query(max_length=100)] = None,
    sort: Literal["publishedAt", "trending"] = "publishedAt",
    p: Annotated[int, Query(ge=0, le=2**31, description="page, from 0")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> list[DailyPaperOut]:
    """With no date, week or month: the latest feed date that has entries."""
    today = settings.current_date()
    window = _requested_window(date, week, month)
    if window is None:
        latest = latest_feed_date(session, today)
        if latest is None:
            return []
        window = day_window(latest)
    query = FeedQuery(
        window=window,
        until=today,
        sort="trending" if sort == "trending" else "upvotes",
        submitter=submitter or None,
    )
    result = feed_page(session, query, page=p, page_size=limit)
    counts = comment_counts(session, [entry.paper_id for entry in result.entries])
    claimed = claimed_users(session, (n for e in result.entries for n in e.paper.author_names))
    return [
        daily_paper_out(entry, counts.get(entry.paper_id, 0), claimed) for entry in result.entries
    ]


@router.get(
    "/papers/{paper_id:path}",
    response_model=PaperOut,
    response_model_exclude_none=True,
    responses=api(400, 404),
    summary="One paper by arXiv id",
)
def paper_detail(paper_id: str, session: ReadSessionDep) -> PaperOut:
    paper = paper_or_404(session, paper_id)
    return paper_out(paper, paper.daily_entry, claimed_users(session, paper.author_names))
