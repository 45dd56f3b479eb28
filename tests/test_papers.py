"""Feed queries on the real demo month (a copied SQLite file per test)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from dailypapers.papers import (
    FeedQuery,
    feed_page,
    get_paper,
    latest_feed_date,
    neighbour_feed_dates,
)
from dailypapers.periods import day_window, parse_month, parse_week
from tests.support.database import DEMO_TODAY
from tests.support.queries import QueryCounter

pytestmark = pytest.mark.both_backends


def _ids(session: Session, query: FeedQuery, page_size: int = 1000) -> list[str]:
    return [
        e.paper.arxiv_id for e in feed_page(session, query, page=0, page_size=page_size).entries
    ]


def test_day_is_ranked_by_upvotes_then_submission_time(demo_session: Session) -> None:
    query = FeedQuery(window=day_window(dt.date(2026, 2, 10)), until=DEMO_TODAY)
    result = feed_page(demo_session, query, page=0, page_size=100)
    assert result.total == 58
    keys = [(-e.paper.upvotes, e.submitted_at, e.paper.arxiv_id) for e in result.entries]
    assert keys == sorted(keys)
    assert result.entries[0].paper.arxiv_id == "2602.08222"  # 256 upvotes, the day's top


def test_pages_split_a_day_without_loss(demo_session: Session) -> None:
    query = FeedQuery(window=day_window(dt.date(2026, 2, 10)), until=DEMO_TODAY)
    first = feed_page(demo_session, query, page=0, page_size=50)
    second = feed_page(demo_session, query, page=1, page_size=50)
    assert (len(first.entries), len(second.entries)) == (50, 8)
    assert first.has_next
    assert not second.has_next
    assert first.page_count == 2
    combined = [e.paper.arxiv_id for e in [*first.entries, *second.entries]]
    assert combined == _ids(demo_session, query)


def test_week_and_month_windows(demo_session: Session) -> None:
    week = FeedQuery(window=parse_week("2026-W07"), until=DEMO_TODAY)
    assert feed_page(demo_session, week, page=0, page_size=10).total == 43 + 58 + 57 + 48 + 41
    month = FeedQuery(window=parse_month("2026-02"), until=DEMO_TODAY)
    assert feed_page(demo_session, month, page=0, page_size=10).total == 783
    earlier = FeedQuery(window=parse_month("2026-02"), until=dt.date(2026, 2, 3))
    assert feed_page(demo_session, earlier, page=0, page_size=10).total == 41 + 73


def test_trending_order_differs_from_upvote_order(demo_session: Session) -> None:
    """A newer paper with fewer votes outranks an older one with more on trending only."""
    window = parse_month("2026-02")
    by_votes = feed_page(demo_session, FeedQuery(window, DEMO_TODAY), page=0, page_size=1000)
    by_trend = feed_page(
        demo_session, FeedQuery(window, DEMO_TODAY, sort="trending"), page=0, page_size=1000
    )
    votes_order = [e.paper.arxiv_id for e in by_votes.entries]
    trend_order = [e.paper.arxiv_id for e in by_trend.entries]
    assert set(votes_order) == set(trend_order)
    assert votes_order != trend_order
    top = by_trend.entries[0]
    most_voted = by_votes.entries[0]
    assert top.paper.upvotes < most_voted.paper.upvotes
    assert top.submitted_at > most_voted.submitted_at
    scores = [e.paper.trending_score for e in by_trend.entries]
    assert scores == sorted(scores, reverse=True)


def test_feed_page_runs_a_fixed_number_of_queries(demo_session: Session) -> None:
    engine = demo_session.get_bind()
    query = FeedQuery(window=parse_month("2026-02"), until=DEMO_TODAY)
    with QueryCounter(engine) as counter:  # type: ignore[arg-type]
        result = feed_page(demo_session, query, page=0, page_size=50)
        for entry in result.entries:
            _ = entry.paper.author_names, entry.submitter, entry.organization
    assert counter.count == 2  # entries with papers, submitters and orgs; the total count


def test_latest_and_neighbour_dates(demo_session: Session) -> None:
    assert latest_feed_date(demo_session, DEMO_TODAY) == dt.date(2026, 2, 27)
    assert latest_feed_date(demo_session, dt.date(2026, 2, 15)) == dt.date(2026, 2, 13)
    assert latest_feed_date(demo_session, dt.date(2026, 1, 1)) is None
    assert neighbour_feed_dates(demo_session, dt.date(2026, 2, 13), DEMO_TODAY) == (
        dt.date(2026, 2, 12),
        dt.date(2026, 2, 16),
    )
    assert neighbour_feed_dates(demo_session, dt.date(2026, 2, 13), dt.date(2026, 2, 13)) == (
        dt.date(2026, 2, 12),
        None,
    )


def test_get_paper(demo_session: Session) -> None:
    paper = get_paper(demo_session, "2601.23265")
    assert paper is not None
    assert paper.title.startswith("PaperBanana")
    assert get_paper(demo_session, "2601.99999") is None
