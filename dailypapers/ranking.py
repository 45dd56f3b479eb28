"""Ranking formulas (pure: no database or web imports). Shown on /about/ranking."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

# Scores count seconds from this instant; any fixed instant works, a recent one keeps the
# numbers readable. Changing it shifts every score equally and leaves the order unchanged.
TRENDING_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class TrendingExplanation:
    """The parts of a trending score, for the "why is this here" line."""

    upvotes: int
    vote_term: float
    age_term: float
    score: float


def explain_trending(
    upvotes: int, submitted_at: dt.datetime, window_hours: float
) -> TrendingExplanation:
    """``log10(max(upvotes, 1)) + (submitted_at − epoch) / window``.

    Newer submissions need fewer votes: one window later is worth ten times the upvotes.
    The score does not decay, so nothing recomputes it on a timer; it changes only when the
    paper's votes do.
    """
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware")
    vote_term = math.log10(max(upvotes, 1))
    age_term = (submitted_at - TRENDING_EPOCH).total_seconds() / (window_hours * 3600.0)
    return TrendingExplanation(upvotes, vote_term, age_term, vote_term + age_term)


def trending_score(upvotes: int, submitted_at: dt.datetime, window_hours: float) -> float:
    return explain_trending(upvotes, submitted_at, window_hours).score
