"""The honest calendar (pure): why a day has no papers — weekend, holiday, not ingested yet.

Hugging Face publishes a Daily Papers list on weekdays, following arXiv's announcements; a day
with no entries is one of: a weekend, a configured holiday, a day after the newest one the store
has ingested, a day in the future, or a weekday that really had none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

DayKind = Literal["papers", "weekend", "holiday", "future", "not_ingested", "empty"]


@dataclass(frozen=True, slots=True)
class DayStatus:
    day: dt.date
    kind: DayKind
    count: int

    @property
    def message(self) -> str:
        name = self.day.strftime("%A, %B %-d, %Y")
        return {
            "papers": f"{name}: {self.count} paper{'' if self.count == 1 else 's'}.",
            "weekend": f"{name} is a weekend: the list is published on weekdays.",
            "holiday": f"{name} is a holiday: no list is published.",
            "future": f"{name} has not happened yet.",
            "not_ingested": f"{name} has not been ingested yet: the store's newest day is earlier.",
            "empty": f"No papers were put on the list on {name}.",
        }[self.kind]


def day_status(
    day: dt.date,
    *,
    count: int,
    today: dt.date,
    newest_ingested: dt.date | None,
    holidays: Collection[dt.date] = (),
) -> DayStatus:
    """Classify ``day``; a day with papers is always "papers", whatever else it is."""
    if count > 0:
        kind: DayKind = "papers"
    elif day > today:
        kind = "future"
    elif day.weekday() >= 5:
        kind = "weekend"
    elif day in holidays:
        kind = "holiday"
    elif newest_ingested is None or day > newest_ingested:
        kind = "not_ingested"
    else:
        kind = "empty"
    return DayStatus(day, kind, count)
