from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.ranking import explain_trending, trending_score

T0 = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)


def test_one_window_later_is_worth_ten_times_the_votes() -> None:
    older = trending_score(100, T0, window_hours=24)
    newer = trending_score(10, T0 + dt.timedelta(hours=24), window_hours=24)
    assert newer == pytest.approx(older)


def test_newer_paper_with_fewer_votes_outranks_older_popular_one() -> None:
    assert trending_score(20, T0 + dt.timedelta(days=2), 24) > trending_score(50, T0, 24)


def test_zero_votes_count_as_one() -> None:
    assert trending_score(0, T0, 24) == trending_score(1, T0, 24)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trending_score(1, dt.datetime(2026, 2, 10), 24)


def test_explanation_adds_up() -> None:
    parts = explain_trending(42, T0, 24)
    assert parts.score == pytest.approx(parts.vote_term + parts.age_term)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.floats(1, 1000))
def test_more_votes_never_rank_lower_at_the_same_time(a: int, b: int, window: float) -> None:
    low, high = sorted((a, b))
    assert trending_score(high, T0, window) >= trending_score(low, T0, window)
