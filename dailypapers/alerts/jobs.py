"""The alert pipeline's background work: the worker's handler and the periodic check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.alerts.cursor import pending_papers
from dailypapers.alerts.pipeline import run_matching
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.jobs import JobContext

DEDUPE_KEY = "match-alerts"


def run_match_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Match a batch of new papers in one transaction (the cursor moves with the matches, so
    a crash repeats the batch and the unique keys make the repeat a no-op); queue the next
    batch when there is more."""
    del payload
    with session_scope(context.factory) as session:
        stats = run_matching(session, context.now)
    if stats.more:
        with session_scope(context.factory) as session:
            jobs.enqueue(session, jobs.ALERTS_MATCH_JOB, {}, dedupe_key=DEDUPE_KEY, now=context.now)


HANDLERS: dict[str, jobs.Handler] = {jobs.ALERTS_MATCH_JOB: run_match_job}


def schedule(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Queue a matching run when papers arrived past the cursor (one pending at a time). Runs
    before the digests' schedule, so a digest finds the day's matches."""
    del settings
    if pending_papers(session):
        jobs.enqueue(session, jobs.ALERTS_MATCH_JOB, {}, dedupe_key=DEDUPE_KEY, now=now)
