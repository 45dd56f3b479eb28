"""Rate limits counted in the database: fixed windows, refused hits counted, old windows pruned."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import rate_limits
from dailypapers.models import RateLimitCounter
from dailypapers.rate_limits import Rate, RateLimitedError, parse_rate

T0 = dt.datetime(2026, 2, 10, 12, 0, 0, tzinfo=dt.UTC)


pytestmark = pytest.mark.both_backends


@pytest.mark.parametrize(
    ("text", "rate"),
    [("10/hour", Rate(10, 3600)), (" 3 / day ", Rate(3, 86400)), ("1/second", Rate(1, 1))],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@given(st.text(max_size=30).filter(lambda text: rate_limits._RATE.fullmatch(text) is None))
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected N/second\|minute\|hour\|day"):
        parse_rate(text)


def test_hits_over_the_limit_are_refused_until_the_window_ends(
    session_factory: sessionmaker[Session],
) -> None:
    rate = Rate(2, 3600)
    with session_factory.begin() as session:
        rate_limits.hit(session, "k", rate, T0)
        rate_limits.hit(session, "k", rate, T0 + dt.timedelta(minutes=10))
        rate_limits.hit(session, "other", rate, T0)
        with pytest.raises(RateLimitedError, match="at most 2 per hour") as refused:
            rate_limits.hit(session, "k", rate, T0 + dt.timedelta(minutes=20))
        assert refused.value.retry_after == 40 * 60
        # The next window starts afresh.
        rate_limits.hit(session, "k", rate, T0 + dt.timedelta(hours=1))


def test_old_windows_are_pruned(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        rate_limits.hit(session, "k", Rate(5, 60), T0)
        rate_limits.hit(session, "k", Rate(5, 60), T0 + dt.timedelta(days=3))
        assert rate_limits.prune(session, T0 + dt.timedelta(days=3)) == 1
        assert session.scalar(select(func.count()).select_from(RateLimitCounter)) == 1
