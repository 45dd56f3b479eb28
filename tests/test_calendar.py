from __future__ import annotations

import datetime as dt

import pytest

from dailypapers.calendar import day_status

pytestmark = pytest.mark.both_backends


TODAY = dt.date(2026, 3, 6)  # a Friday
NEWEST = dt.date(2026, 2, 27)


@pytest.mark.parametrize(
    ("day", "count", "kind"),
    [
        (dt.date(2026, 2, 27), 28, "papers"),
        (dt.date(2026, 2, 28), 3, "papers"),  # a weekend with papers is still papers
        (dt.date(2026, 2, 28), 0, "weekend"),
        (dt.date(2026, 3, 3), 0, "holiday"),
        (dt.date(2026, 3, 2), 0, "not_ingested"),
        (dt.date(2026, 2, 26), 0, "empty"),
        (dt.date(2026, 3, 9), 0, "future"),
    ],
)
def test_day_status(day: dt.date, count: int, kind: str) -> None:
    status = day_status(
        day, count=count, today=TODAY, newest_ingested=NEWEST, holidays={dt.date(2026, 3, 3)}
    )
    assert status.kind == kind
    assert status.message.startswith(day.strftime("%A, %B %-d, %Y")) or kind == "empty"


def test_empty_store_means_nothing_ingested() -> None:
    status = day_status(dt.date(2026, 3, 2), count=0, today=TODAY, newest_ingested=None)
    assert status.kind == "not_ingested"
