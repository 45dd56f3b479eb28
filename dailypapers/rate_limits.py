"""Rate limits kept in the database, so every web process and worker counts the same hits.

A limit is ``N/period`` (``10/hour``). Hits are counted in fixed windows: one row per
(bucket, window start), incremented with a single upsert, so concurrent requests never lose a hit
and no process has to agree with another's memory (DESIGN.md §8).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, delete, text
from sqlalchemy.orm import Session

from dailypapers.models import RateLimitCounter

PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*([0-9]+)\s*/\s*(second|minute|hour|day)\s*")


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    period_seconds: int

    @property
    def label(self) -> str:
        name = {v: k for k, v in PERIOD_SECONDS.items()}[self.period_seconds]
        return f"{self.limit} per {name}"


def parse_rate(text: str) -> Rate:
    """``"10/hour"`` → ``Rate(10, 3600)``; anything else is a ValueError that says the format."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate; expected N/second|minute|hour|day, e.g. 10/hour")
    return Rate(int(match[1]), PERIOD_SECONDS[match[2]])


class RateLimitedError(Exception):
    """Too many hits; ``retry_after`` seconds until the window ends."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def hit(session: Session, bucket: str, rate: Rate, now: dt.datetime) -> None:
    """Count one hit on ``bucket`` (e.g. ``subscribe:ip:1.2.3.4``); raise :class:`RateLimitedError`
    when it is over the limit. Runs in the caller's transaction, which should commit even on
    RateLimitedError: a refused hit then counts too, so hammering does not reset the window."""
    hit_many(session, [(bucket, rate)], now)


@functools.cache
def _upsert(rows: int) -> TextClause:
    """``INSERT … ON CONFLICT DO UPDATE … RETURNING`` for ``rows`` buckets, the same SQL on
    SQLite and PostgreSQL. Plain text, made once per row count: a multi-row ``insert().values``
    is compiled again on every call (a large share of a vote request's CPU)."""
    values = ", ".join(f"(:bucket{i}, :window{i}, 1)" for i in range(rows))
    return text(
        f"INSERT INTO rate_limit_counters (bucket, window_start, hits) VALUES {values} "  # noqa: S608
        "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 "
        "RETURNING bucket, hits"
    )


def hit_many(session: Session, limits: Sequence[tuple[str, Rate]], now: dt.datetime) -> None:
    """:func:`hit` for several buckets in one statement (the vote path counts two)."""
    seconds = int(now.timestamp())
    params: dict[str, object] = {}
    for i, (bucket, rate) in enumerate(limits):
        params[f"bucket{i}"] = bucket
        params[f"window{i}"] = seconds - seconds % rate.period_seconds
    counted: dict[str, int] = dict(session.execute(_upsert(len(limits)), params).all())
    for bucket, rate in limits:
        if counted[bucket] > rate.limit:
            retry_after = seconds - seconds % rate.period_seconds + rate.period_seconds - seconds
            raise RateLimitedError(f"Too many requests: at most {rate.label}.", max(1, retry_after))


def prune(session: Session, now: dt.datetime, keep_seconds: int = 2 * 86400) -> int:
    """Drop windows older than the longest period (run by the worker's schedule)."""
    oldest = int(now.timestamp()) - keep_seconds
    result = session.execute(delete(RateLimitCounter).where(RateLimitCounter.window_start < oldest))
    return int(getattr(result, "rowcount", 0) or 0)
