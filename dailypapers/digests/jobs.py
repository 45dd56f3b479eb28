"""The digests' background work: the worker's handlers and the periodic schedule."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dailypapers import jobs, rate_limits
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.digests.schedule import schedule_due_digests, schedule_period
from dailypapers.digests.send import send_chunk
from dailypapers.jobs import JobContext
from dailypapers.models import DigestTopicMatch

# Stored topic results outlive their period's retries by far; then they are dropped.
TOPIC_RESULTS_KEPT = dt.timedelta(days=30)


def run_send_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler of ``send_digest``. Mails that must wait (4xx, a server down) go into a
    follow-up job with backoff, so no row is left behind when a job runs out of attempts;
    each row fails for good only after DIGEST_MAX_ATTEMPTS tries of its own."""
    period = str(payload["period"])
    stats = send_chunk(
        context.settings, context.engine, context.factory, period, list(payload["send_ids"])
    )
    if not stats.pending_ids:
        return
    retry = int(payload.get("retry", 0)) + 1
    policy = jobs.RetryPolicy(
        base_seconds=context.settings.job_retry_base_seconds,
        cap_seconds=context.settings.job_retry_cap_seconds,
    )
    with session_scope(context.factory) as session:
        jobs.enqueue(
            session,
            jobs.DIGEST_SEND_JOB,
            {"period": period, "send_ids": stats.pending_ids, "retry": retry},
            dedupe_key=f"digest:{period}:{stats.pending_ids[0]}:retry{retry}",
            run_after=context.now + policy.delay(retry, random.Random()),  # noqa: S311 (jitter)
            now=context.now,
        )


def run_schedule_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Claim the period; also drop what no later run reads (old rate-limit windows and
    topic results of periods long sent)."""
    with session_scope(context.factory) as session:
        schedule_period(session, context.settings, str(payload["period"]), context.now)
        rate_limits.prune(session, context.now)
        session.execute(
            delete(DigestTopicMatch).where(
                DigestTopicMatch.created_at < context.now - TOPIC_RESULTS_KEPT
            )
        )


HANDLERS: dict[str, jobs.Handler] = {
    jobs.DIGEST_SEND_JOB: run_send_job,
    jobs.DIGEST_SCHEDULE_JOB: run_schedule_job,
}


def schedule(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Periodic work for the worker loop: each cadence's scheduling job, when due."""
    schedule_due_digests(session, settings, now)
