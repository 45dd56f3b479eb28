from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.periods import (
    PeriodError,
    day_window,
    parse_day,
    parse_month,
    parse_week,
    week_window_of,
)


def test_iso_week_is_monday_to_sunday() -> None:
    window = parse_week("2026-W07")
    assert (window.start, window.end) == (dt.date(2026, 2, 9), dt.date(2026, 2, 15))
    assert window.key == "2026-W07"


def test_iso_week_across_the_year_boundary() -> None:
    window = parse_week("2026-W01")
    assert window.start == dt.date(2025, 12, 29)
    assert parse_week("2020-W53").end == dt.date(2021, 1, 3)


def test_month_is_the_calendar_month() -> None:
    assert (parse_month("2026-02").start, parse_month("2026-02").end) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    assert parse_month("2024-02").end == dt.date(2024, 2, 29)
    assert parse_month("2025-12").shifted(1).key == "2026-01"
    assert parse_month("2026-01").shifted(-1).key == "2025-12"


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (parse_day, "2025-13-40", "not a real calendar date"),
        (parse_day, "2026-02-30", "not a real calendar date"),
        (parse_day, "20260210", "expected YYYY-MM-DD"),
        (parse_day, "2026-02-10'; --", "expected YYYY-MM-DD"),
        (parse_week, "2026-W54", "has no ISO week 54"),
        (parse_week, "2025-W53", "has no ISO week 53"),
        (parse_week, "2026-7", "expected YYYY-Www"),
        (parse_month, "2026-13", "not a real month"),
        (parse_month, "2026-2", "expected YYYY-MM"),
    ],
)
def test_bad_periods_say_what_was_expected(parser, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PeriodError, match=message):
        parser(text)


@given(st.dates(min_value=dt.date(1900, 1, 8), max_value=dt.date(9999, 11, 30)))
def test_windows_round_trip_and_tile(day: dt.date) -> None:
    assert parse_day(day.isoformat()) == day_window(day)
    week = week_window_of(day)
    assert week.contains(day)
    assert parse_week(week.key) == week
    assert week.shifted(1).start == week.end + dt.timedelta(days=1)
    month = parse_month(f"{day.year:04d}-{day.month:02d}")
    assert month.contains(day)
    assert month.shifted(1).start == month.end + dt.timedelta(days=1)
