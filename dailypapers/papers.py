"""Reading the Daily Papers list: feed windows, trending, paper lookup (service functions).

Functions take a session and never commit. List queries load a page of entries with their
papers (author names included), submitter and organization in one SQL statement, plus a count
when the page is full (no N+1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from dailypapers import hf_names
from dailypapers.models import DailyEntry, Paper, User
from dailypapers.periods import FeedWindow

FeedSort = Literal["upvotes", "trending"]


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """Which entries a list shows: a window (None: every day) up to ``until``, filtered."""

    window: FeedWindow | None
    until: dt.date
    sort: FeedSort = "upvotes"
    submitter: str | None = None


class Paged:
    """What the ``pager`` macro reads of a page of results: ``page`` counts from 0. Mixed into
    the page dataclasses, which hold the three fields."""

    __slots__ = ()
    total: int
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.page_size < self.total

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class FeedPage(Paged):
    entries: Sequence[DailyEntry]
    total: int
    page: int
    page_size: int


# Papers hidden by moderators: a small set, so NOT IN needs no join in the count query.
HIDDEN_PAPER_IDS = select(Paper.id).where(Paper.hidden_at.is_not(None))


def _filtered(statement: Select[Any], query: FeedQuery) -> Select[Any]:
    statement = statement.where(
        DailyEntry.feed_date <= query.until, DailyEntry.paper_id.not_in(HIDDEN_PAPER_IDS)
    )
    if query.window is not None:
        statement = statement.where(
            DailyEntry.feed_date >= query.window.start, DailyEntry.feed_date <= query.window.end
        )
    if query.submitter is not None:
        statement = statement.join(DailyEntry.submitter).where(
            User.username.in_(hf_names.candidates(query.submitter))
        )
    return statement


def feed_page(session: Session, query: FeedQuery, *, page: int, page_size: int) -> FeedPage:
    """One page of a feed, best first: shown upvotes (or trending score), then submission time."""
    statement = _filtered(select(DailyEntry).join(DailyEntry.paper), query)
    order: tuple[Any, ...]
    if query.sort == "trending":
        order = (Paper.trending_score.desc(), Paper.arxiv_id)
    else:
        order = (
            (Paper.external_upvotes + Paper.local_upvotes).desc(),
            DailyEntry.submitted_at,
            Paper.arxiv_id,
        )
    entries = session.scalars(
        statement.options(
            contains_eager(DailyEntry.paper),
            joinedload(DailyEntry.submitter),
            joinedload(DailyEntry.organization),
        )
        .order_by(*order)
        .offset(page * page_size)
        .limit(page_size)
    ).all()
    if page == 0 and len(entries) < page_size:
        total = len(entries)
    else:
        total = session.scalar(_filtered(select(func.count(DailyEntry.id)), query)) or 0
    return FeedPage(entries, total, page, page_size)


def latest_feed_date(session: Session, until: dt.date) -> dt.date | None:
    """The newest feed date on or before ``until`` that has entries."""
    return session.scalar(
        select(func.max(DailyEntry.feed_date)).where(DailyEntry.feed_date <= until)
    )


def neighbour_feed_dates(
    session: Session, day: dt.date, until: dt.date
) -> tuple[dt.date | None, dt.date | None]:
    """The nearest earlier and later feed dates with entries (later ones up to ``until``)."""
    previous = session.scalar(
        select(func.max(DailyEntry.feed_date)).where(DailyEntry.feed_date < day)
    )
    following = session.scalar(
        select(func.min(DailyEntry.feed_date)).where(
            DailyEntry.feed_date > day, DailyEntry.feed_date <= until
        )
    )
    return previous, following


def get_paper(session: Session, arxiv_id: str, *, include_hidden: bool = False) -> Paper | None:
    """A paper with its authors, versions and daily entry, by canonical arXiv id; a paper
    hidden by moderators is None unless ``include_hidden``."""
    statement = select(Paper).where(Paper.arxiv_id == arxiv_id)
    if not include_hidden:
        statement = statement.where(Paper.hidden_at.is_(None))
    return session.scalar(
        statement.options(
            selectinload(Paper.versions),
            joinedload(Paper.daily_entry).joinedload(DailyEntry.submitter),
            joinedload(Paper.daily_entry).joinedload(DailyEntry.organization),
        )
    )


def papers_in_order(session: Session, paper_ids: Sequence[int]) -> list[Paper]:
    """The visible papers with these ids, in this order, with what cards and API items show
    (daily entry, its submitter and organization) loaded in the same query."""
    if not paper_ids:
        return []
    found = {
        paper.id: paper
        for paper in session.scalars(
            select(Paper)
            .where(Paper.id.in_(paper_ids), Paper.hidden_at.is_(None))
            .options(
                joinedload(Paper.daily_entry).joinedload(DailyEntry.submitter),
                joinedload(Paper.daily_entry).joinedload(DailyEntry.organization),
            )
        ).unique()
    }
    return [found[paper_id] for paper_id in paper_ids if paper_id in found]


def newest_ingested_day(session: Session) -> dt.date | None:
    """The newest day the store knows of: a feed date or an arXiv listing date."""
    newest_feed = session.scalar(select(func.max(DailyEntry.feed_date)))
    newest_listing = session.scalar(select(func.max(Paper.listing_date)))
    known = [day for day in (newest_feed, newest_listing) if day is not None]
    return max(known) if known else None


def entries_per_day(session: Session, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    rows = session.execute(
        select(DailyEntry.feed_date, func.count())
        .where(DailyEntry.feed_date >= start, DailyEntry.feed_date <= end)
        .group_by(DailyEntry.feed_date)
    )
    return {row[0]: row[1] for row in rows}


def submitted_since(session: Session, window: FeedWindow, since: dt.datetime) -> int:
    """How many of the window's list entries were submitted after ``since`` (hidden papers
    left out): "new since your last visit"."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DailyEntry)
            .join(Paper, Paper.id == DailyEntry.paper_id)
            .where(
                DailyEntry.feed_date.between(window.start, window.end),
                DailyEntry.submitted_at > since,
                Paper.hidden_at.is_(None),
            )
        )
        or 0
    )
