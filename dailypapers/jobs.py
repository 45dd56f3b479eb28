"""The job queue in the database (DESIGN.md §1): enqueue in the caller's transaction, claim, retry.

- ``enqueue`` adds a row inside the caller's transaction, so the job exists exactly when the
  write that caused it commits. A ``dedupe_key`` keeps one pending job per key.
- ``claim`` takes the oldest due job atomically, interactive kinds (mail a person waits for)
  first: ``BEGIN IMMEDIATE`` on SQLite (one writer at a
  time), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never wait on each other).
- A failed job is retried with exponential backoff and jitter until ``max_attempts``, then stays
  ``failed`` with its last error. A job whose worker died (``running`` past the lease) is
  claimed again.

Every job kind is named here, and ``JobContext`` / ``Handler`` are the shape of a handler: each
domain with background work exports ``HANDLERS`` (kind → handler) built from them, and
``worker.py`` only runs the loop over those.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.bulk import insert_rows
from dailypapers.config import Settings
from dailypapers.db import begin_write, is_sqlite
from dailypapers.models import Job

# Job kinds (the ``jobs.kind`` column): stored in rows, so a rename needs a migration.
HARVEST_JOB = "harvest"  # ingest: the scheduled daily OAI-PMH harvest
HF_DAILY_JOB = "ingest_hf_daily"  # ingest: one Hugging Face day
EMBED_JOB = "embed_paper"  # search: encode a stored or changed paper
ACCOUNT_MAIL_JOB = "send_account_mail"  # accounts: verification, reset, email change
CONFIRM_MAIL_JOB = "send_subscription_confirmation"  # digests: the double opt-in mail
SAMPLE_MAIL_JOB = "send_digest_sample"  # digests: "send me a sample now"
DIGEST_SCHEDULE_JOB = "schedule_digest"  # digests: claim a period's send rows
DIGEST_SEND_JOB = "send_digest"  # digests: deliver a chunk of a period's send rows
LIBRARY_IMPORT_JOB = "library_import"  # library: match a large import's entries, by chunks
LIBRARY_FETCH_JOB = "library_fetch"  # library: fetch an import's papers missing from the store
ALERTS_MATCH_JOB = "match_alerts"  # alerts: match new papers against follows, deliver once
WEBHOOK_JOB = "deliver_webhook"  # webhooks: POST one alert to one hook (retried with backoff)
WEBHOOK_TEST_JOB = "test_webhook"  # webhooks: the "send test" button (one attempt)

# Work a person is waiting for (mail, an import's progress on the page): claimed before any
# other due job (``jobs.priority`` 0), so a backlog of embeddings does not hold them up.
INTERACTIVE_KINDS = frozenset(
    {
        ACCOUNT_MAIL_JOB,
        CONFIRM_MAIL_JOB,
        SAMPLE_MAIL_JOB,
        LIBRARY_IMPORT_JOB,
        LIBRARY_FETCH_JOB,
        WEBHOOK_TEST_JOB,
    }
)
INTERACTIVE, BACKGROUND = 0, 1

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PENDING_STATES = (QUEUED, RUNNING)
# The predicate of the partial unique index on dedupe_key (models.Job), spelled the same way.
PENDING_INDEX_WHERE = text("state IN ('queued', 'running')")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class JobContext:
    """What a handler may use: it opens and commits its own transactions.

    ``attempt`` counts from 1; on the ``max_attempts``-th a handler that would raise for a
    passing failure (a remote down) may instead record it as the job's final outcome."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    now: dt.datetime
    attempt: int = 1
    max_attempts: int = 1

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


# Every handler must be idempotent: a crash after the work but before ``mark_done`` runs it again.
Handler = Callable[[JobContext, dict[str, Any]], None]


def utc_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff: ``base × 2^(attempt−1)``, capped, times a jitter factor in [0.5, 1.5)."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempt: int, rng: random.Random) -> dt.timedelta:
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return dt.timedelta(seconds=seconds * (0.5 + rng.random()))


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    run_after: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Add a job in the caller's transaction; a pending job with the same key makes it a no-op."""
    enqueue_many(
        session,
        [{"kind": kind, "payload": payload or {}, "dedupe_key": dedupe_key}],
        run_after=run_after,
        now=now,
    )


def enqueue_many(
    session: Session,
    jobs: Collection[dict[str, Any]],
    *,
    run_after: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Bulk :func:`enqueue`: one INSERT for a batch of dicts with kind, payload, dedupe_key."""
    if not jobs:
        return
    moment = now or utc_clock()
    rows = [
        {
            "kind": job["kind"],
            "priority": INTERACTIVE if job["kind"] in INTERACTIVE_KINDS else BACKGROUND,
            "payload": job.get("payload") or {},
            "dedupe_key": job.get("dedupe_key"),
            "state": QUEUED,
            "attempts": 0,
            "run_after": run_after or moment,
            "created_at": moment,
        }
        for job in jobs
    ]
    # One pending job per dedupe key: the partial unique index turns a repeat into a no-op.
    insert_rows(
        session.connection(),
        cast(Table, Job.__table__),
        rows,
        suffix=f"ON CONFLICT (dedupe_key) WHERE {PENDING_INDEX_WHERE.text} DO NOTHING",
    )


def claim(
    engine: Engine,
    factory: sessionmaker[Session],
    worker_id: str,
    *,
    kinds: Collection[str],
    now: dt.datetime,
    lease: dt.timedelta,
) -> Job | None:
    """Atomically take a due job of ``kinds``, or None: first one whose worker's lease ran out,
    then the queued one of highest priority, oldest first."""
    of_kinds = select(Job).where(Job.kind.in_(kinds)).limit(1)
    stale = of_kinds.where(Job.state == RUNNING, Job.locked_at < now - lease).order_by(Job.id)
    # Ordered as ix_jobs_due (state, priority, run_after) is, so the scan stops at the first row.
    queued = of_kinds.where(Job.state == QUEUED, Job.run_after <= now).order_by(
        Job.priority, Job.run_after, Job.id
    )
    with factory() as session:
        # SQLite: take the write lock before reading, so two workers cannot pick the same row.
        begin_write(session)
        job = None
        for query in (stale, queued):
            if not is_sqlite(engine):
                query = query.with_for_update(skip_locked=True)
            job = session.scalar(query)
            if job is not None:
                break
        if job is None:
            session.rollback()
            return None
        job.state = RUNNING
        job.attempts += 1
        job.locked_by = worker_id
        job.locked_at = now
        session.commit()
        return job


def _still_ours(job: Job) -> Any:
    """The job row is still this worker's claim (no other worker took it after the lease)."""
    return (
        (Job.id == job.id)
        & (Job.state == RUNNING)
        & (Job.locked_by == job.locked_by)
        & (Job.attempts == job.attempts)
    )


def renew_lease(session: Session, job: Job, now: dt.datetime) -> bool:
    """Tell the others this worker is still on the job; False when it has lost the claim."""
    result = session.execute(update(Job).where(_still_ours(job)).values(locked_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_done(session: Session, job: Job, now: dt.datetime) -> bool:
    """Record success; False when another worker has since claimed the job."""
    result = session.execute(
        update(Job)
        .where(_still_ours(job))
        .values(state=DONE, finished_at=now, locked_by=None, last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_failed(
    session: Session,
    job: Job,
    error: str,
    *,
    now: dt.datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> str | None:
    """Record a failure: back to ``queued`` with a delay, or ``failed`` after the last attempt.

    Returns the new state, or None when another worker has since claimed the job.
    """
    final = job.attempts >= policy.max_attempts
    values: dict[str, Any] = {"last_error": error[:4000], "locked_by": None, "locked_at": None}
    if final:
        values.update(state=FAILED, finished_at=now)
    else:
        values.update(state=QUEUED, run_after=now + policy.delay(job.attempts, rng))
    result = session.execute(update(Job).where(_still_ours(job)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return FAILED if final else QUEUED


class RetryRefused(Exception):  # noqa: N818 (a refusal, not an error in the program)
    """The job cannot be retried; the message says why."""


def retry(session: Session, job_id: int, now: dt.datetime) -> None:
    """Put a failed job back in the queue now, its attempts starting over.

    :raises RetryRefused: no such job, it has not failed, or the same work is already pending.
    """
    job = session.get(Job, job_id)
    if job is None:
        raise RetryRefused(f"no job {job_id}")
    if job.state != FAILED:
        raise RetryRefused(f"job {job_id} is {job.state}, not failed")
    if job.dedupe_key is not None:
        twin = session.scalar(
            select(Job.id).where(Job.dedupe_key == job.dedupe_key, Job.state.in_(PENDING_STATES))
        )
        if twin is not None:
            raise RetryRefused(f"job {twin} already does the same work ({job.dedupe_key})")
    job.state = QUEUED
    job.attempts = 0
    job.run_after = now
    job.finished_at = None


def list_jobs(session: Session, *, state: str | None = None, limit: int = 100) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    return list(session.scalars(query))
