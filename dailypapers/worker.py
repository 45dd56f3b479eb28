"""The job loop: claim a due job, run its handler, record the outcome (``dailypapers worker``).

Handlers are registered by kind. A worker only claims kinds it has a handler for, so jobs queued
for a feature that is not set up (embeddings before ``dailypapers model export``) wait instead
of failing. Every handler must be idempotent: a crash after the work but before ``mark_done``
runs it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.models import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What a handler may use: it opens and commits its own transactions."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    now: dt.datetime


Handler = Callable[[JobContext, dict[str, Any]], None]


@dataclass
class WorkerStats:
    done: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def default_handlers(settings: Settings) -> dict[str, Handler]:
    """Every job kind this installation can run (embeddings only once the model is exported)."""
    from dailypapers.accounts import ACCOUNT_MAIL_JOB, run_account_mail_job
    from dailypapers.digests.send import JOB_HANDLERS as DIGEST_HANDLERS
    from dailypapers.ingest.run import run_harvest_job, run_hf_daily_job
    from dailypapers.search.indexer import job_handlers as search_handlers

    return {
        "harvest": run_harvest_job,
        "ingest_hf_daily": run_hf_daily_job,
        ACCOUNT_MAIL_JOB: run_account_mail_job,
        **DIGEST_HANDLERS,
        **search_handlers(settings),
    }


def schedule_due_work(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Queue the periodic work that is due: the daily harvest and the digests."""
    from dailypapers.digests.send import schedule_due_digests

    schedule_daily_harvest(session, settings, now)
    schedule_due_digests(session, settings, now)


def schedule_daily_harvest(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Enqueue today's harvest at HARVEST_TIME local time (the dedupe key makes it once a day)."""
    if not settings.harvest_enabled:
        return
    local_day = now.astimezone(settings.tz).date()
    key = f"harvest:oai:{settings.harvest_set}:{local_day.isoformat()}"
    # Once a day means once: a done or failed harvest of the day is not queued again.
    if session.scalar(select(Job.id).where(Job.dedupe_key == key).limit(1)) is not None:
        return
    due = dt.datetime.combine(local_day, settings.harvest_time, tzinfo=settings.tz)
    jobs.enqueue(
        session,
        "harvest",
        {"source": "oai", "set": settings.harvest_set},
        dedupe_key=key,
        run_after=due.astimezone(dt.UTC),
        now=now,
    )


class Worker:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        factory: sessionmaker[Session],
        *,
        handlers: Mapping[str, Handler] | None = None,
        clock: jobs.Clock = jobs.utc_clock,
        rng: random.Random | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.factory = factory
        self.handlers = dict(handlers if handlers is not None else default_handlers(settings))
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter, not a secret)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.policy = jobs.RetryPolicy(
            max_attempts=settings.job_max_attempts,
            base_seconds=settings.job_retry_base_seconds,
            cap_seconds=settings.job_retry_cap_seconds,
        )
        self.lease = dt.timedelta(seconds=settings.job_lease_seconds)

    def run_one(self, stats: WorkerStats) -> bool:
        """Claim and run one due job; False when none is due."""
        job = jobs.claim(
            self.engine,
            self.factory,
            self.worker_id,
            kinds=self.handlers.keys(),
            now=self.clock(),
            lease=self.lease,
        )
        if job is None:
            return False
        context = JobContext(self.settings, self.engine, self.factory, self.clock())
        try:
            with self._heartbeat(job):
                self.handlers[job.kind](context, dict(job.payload))
        except Exception as exc:  # a handler's failure is recorded, never kills the worker
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
            with session_scope(self.factory) as session:
                outcome = jobs.mark_failed(
                    session, job, error, now=self.clock(), policy=self.policy, rng=self.rng
                )
            if outcome is None:
                return True  # the lease ran out and another worker owns the job now
            if outcome == jobs.FAILED:
                stats.failed += 1
                stats.errors.append(f"job {job.id} ({job.kind}): {error}")
            else:
                stats.retried += 1
            return True
        with session_scope(self.factory) as session:
            jobs.mark_done(session, job, self.clock())
        stats.done += 1
        return True

    @contextmanager
    def _heartbeat(self, job: Job) -> Iterator[None]:
        """Renew the job's lease every third of it while the handler runs, so no other worker
        takes a long job (a harvest of a whole set) from a worker that is still alive."""
        stop = threading.Event()
        interval = self.lease.total_seconds() / 3

        def beat() -> None:
            while not stop.wait(interval):
                with session_scope(self.factory) as session:
                    if not jobs.renew_lease(session, job, self.clock()):
                        return

        thread = threading.Thread(target=beat, daemon=True, name=f"lease-{job.id}")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def run_once(self) -> WorkerStats:
        """Schedule what is due, then run jobs until none is due (``worker --once``, for cron)."""
        stats = WorkerStats()
        with session_scope(self.factory) as session:
            schedule_due_work(session, self.settings, self.clock())
        while self.run_one(stats):
            pass
        return stats

    def run_forever(self, stop: threading.Event) -> WorkerStats:
        stats = WorkerStats()
        while not stop.is_set():
            with session_scope(self.factory) as session:
                schedule_due_work(session, self.settings, self.clock())
            if not self.run_one(stats):
                stop.wait(self.settings.worker_poll_seconds)
        return stats
