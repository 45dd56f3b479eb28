"""Feed windows: a day, an ISO week or a calendar month of feed dates (pure).

The same keys name digest periods later (``daily:2026-02-10``, ``weekly:2026-W07``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

WindowKind = Literal["day", "week", "month"]

_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class PeriodError(ValueError):
    """A malformed or impossible date, week or month; the message says what was expected."""


# Years a feed can be asked about; the bounds keep every neighbouring window a valid date.
MIN_YEAR, MAX_YEAR = 1900, 9998


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"{text[:40]!r}: the year must be between {MIN_YEAR} and {MAX_YEAR}")


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """An inclusive range of feed dates with its canonical key (``2026-02-10``, ``2026-W07``…)."""

    kind: WindowKind
    start: dt.date
    end: dt.date

    @property
    def key(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%A, %B %-d, %Y")
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"Week {week}, {year} ({self.start:%b %-d} – {self.end:%b %-d})"
        return self.start.strftime("%B %Y")

    def shifted(self, steps: int) -> FeedWindow:
        """The window ``steps`` days / weeks / months away (negative: earlier)."""
        if self.kind == "day":
            return day_window(self.start + dt.timedelta(days=steps))
        if self.kind == "week":
            return week_window_of(self.start + dt.timedelta(weeks=steps))
        months = self.start.year * 12 + (self.start.month - 1) + steps
        return month_window(months // 12, months % 12 + 1)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def day_window(day: dt.date) -> FeedWindow:
    return FeedWindow("day", day, day)


def week_window_of(day: dt.date) -> FeedWindow:
    monday = day - dt.timedelta(days=day.weekday())
    return FeedWindow("week", monday, monday + dt.timedelta(days=6))


def month_window(year: int, month: int) -> FeedWindow:
    start = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return FeedWindow("month", start, following - dt.timedelta(days=1))


def parse_day(text: str) -> FeedWindow:
    match = _DAY.fullmatch(text.strip())
    if not match:
        raise PeriodError(f"{text[:40]!r} is not a date; expected YYYY-MM-DD, e.g. 2026-02-10")
    _check_year(int(match[1]), text)
    try:
        return day_window(dt.date(*(int(part) for part in match.groups())))
    except ValueError as exc:
        raise PeriodError(f"{text!r} is not a real calendar date ({exc})") from None


def parse_week(text: str) -> FeedWindow:
    match = _WEEK.fullmatch(text.strip())
    if not match:
        raise PeriodError(f"{text[:40]!r} is not a week; expected YYYY-Www, e.g. 2026-W07")
    year, week = int(match[1]), int(match[2])
    _check_year(year, text)
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PeriodError(f"{text!r}: year {year} has no ISO week {week}") from None
    return week_window_of(monday)


def parse_month(text: str) -> FeedWindow:
    match = _MONTH.fullmatch(text.strip())
    if not match:
        raise PeriodError(f"{text[:40]!r} is not a month; expected YYYY-MM, e.g. 2026-02")
    year, month = int(match[1]), int(match[2])
    _check_year(year, text)
    if not 1 <= month <= 12:
        raise PeriodError(f"{text!r} is not a real month (01–12)")
    return month_window(year, month)


def parse_window(kind: WindowKind, text: str) -> FeedWindow:
    parser = {"day": parse_day, "week": parse_week, "month": parse_month}[kind]
    return parser(text)


# Digest periods: ``daily:2026-02-10`` (one feed day) and ``weekly:2026-W07`` (one ISO week).
DigestCadence = Literal["daily", "weekly"]
CADENCES: tuple[DigestCadence, ...] = ("daily", "weekly")


def parse_digest_period(key: str) -> tuple[DigestCadence, FeedWindow]:
    """``"weekly:2026-W07"`` → ``("weekly", <that week>)``; a PeriodError says what is expected."""
    cadence, _, rest = key.strip().partition(":")
    if cadence == "daily":
        return "daily", parse_day(rest)
    if cadence == "weekly":
        return "weekly", parse_week(rest)
    raise PeriodError(
        f"{key[:40]!r} is not a digest period; expected daily:YYYY-MM-DD or weekly:YYYY-Www"
    )


def digest_period_key(cadence: DigestCadence, window: FeedWindow) -> str:
    return f"{cadence}:{window.key}"


def due_digest_window(
    cadence: DigestCadence, send_day: dt.date, weekly_day: int
) -> FeedWindow | None:
    """The period a digest sent on ``send_day`` covers, or None when that cadence sends nothing
    that day: daily digests go out Monday–Friday with the previous weekday (Monday: Friday);
    weekly ones on ISO weekday ``weekly_day`` with the previous ISO week."""
    if cadence == "daily":
        if send_day.weekday() >= 5:
            return None
        back = 3 if send_day.weekday() == 0 else 1
        return day_window(send_day - dt.timedelta(days=back))
    if send_day.isoweekday() != weekly_day:
        return None
    return week_window_of(send_day - dt.timedelta(days=7))
