"""The job loop: claim a due job, run its handler, record the outcome (``dailypapers worker``).

Handlers come from each domain's ``HANDLERS`` (kind → handler, see ``jobs.py``). A worker only
claims kinds it has a handler for, so jobs queued for a feature that is not set up (embeddings
before ``dailypapers model export``) wait instead of failing. Every handler must be idempotent:
a crash after the work but before ``mark_done`` runs it again. Only the CLI imports this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import account_mail, jobs
from dailypapers.alerts import jobs as alert_jobs
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.digests import jobs as digest_jobs
from dailypapers.digests import subscriptions
from dailypapers.ingest import jobs as ingest_jobs
from dailypapers.jobs import Handler, JobContext
from dailypapers.library import imports as library_imports
from dailypapers.models import Job
from dailypapers.search import indexer
from dailypapers.webhooks import delivery as webhook_delivery

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    done: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def default_handlers(settings: Settings) -> dict[str, Handler]:
    """Every job kind this installation can run (embeddings only once the model is exported)."""
    return {
        **ingest_jobs.HANDLERS,
        **account_mail.HANDLERS,
        **subscriptions.HANDLERS,
        **digest_jobs.HANDLERS,
        **library_imports.HANDLERS,
        **alert_jobs.HANDLERS,
        **webhook_delivery.HANDLERS,
        **indexer.job_handlers(settings),
    }


def schedule_due_work(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Queue the periodic work that is due: the daily harvest, alerts and the digests."""
    ingest_jobs.schedule(session, settings, now)
    alert_jobs.schedule(session, settings, now)
    digest_jobs.schedule(session, settings, now)


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
        context = JobContext(
            self.settings,
            self.engine,
            self.factory,
            self.clock(),
            attempt=job.attempts,
            max_attempts=self.policy.max_attempts,
        )
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
