"""The job queue and worker on a real SQLite file, with an injected clock."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.ingest.jobs import schedule_daily_harvest
from dailypapers.jobs import JobContext
from dailypapers.models import Job
from dailypapers.worker import Worker

T0 = dt.datetime(2026, 2, 10, 8, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.both_backends


LEASE = dt.timedelta(minutes=15)


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def _states(factory: sessionmaker[Session]) -> Counter[str]:
    with factory() as session:
        return Counter(session.scalars(select(Job.state)))


def test_enqueue_is_part_of_the_callers_transaction(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        jobs.enqueue(session, "noop", {"n": 1}, now=T0)
        session.rollback()
    assert _states(session_factory) == Counter()
    with session_factory.begin() as session:
        jobs.enqueue(session, "noop", {"n": 1}, now=T0)
    assert _states(session_factory) == Counter({"queued": 1})


def test_a_dedupe_key_keeps_one_pending_job(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        for _ in range(3):
            jobs.enqueue(session, "embed_paper", {"paper_id": 1}, dedupe_key="embed:1", now=T0)
        jobs.enqueue(session, "embed_paper", {"paper_id": 2}, dedupe_key="embed:2", now=T0)
    assert _states(session_factory) == Counter({"queued": 2})


def test_claim_respects_run_after_and_kinds(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue(session, "later", run_after=T0 + dt.timedelta(hours=1), now=T0)
        jobs.enqueue(session, "other", now=T0)
    claim = {"kinds": ["later"], "now": T0, "lease": LEASE}
    assert jobs.claim(engine, session_factory, "w1", **claim) is None  # type: ignore[arg-type]
    claimed = jobs.claim(
        engine, session_factory, "w1", kinds=["later"], now=T0 + dt.timedelta(hours=1), lease=LEASE
    )
    assert claimed is not None
    assert (claimed.kind, claimed.state, claimed.attempts) == ("later", "running", 1)


def test_mail_a_person_waits_for_is_claimed_before_an_older_backlog(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    kinds = [jobs.EMBED_JOB, jobs.ACCOUNT_MAIL_JOB]
    with session_factory.begin() as session:
        backlog = [{"kind": jobs.EMBED_JOB, "payload": {"paper_id": n}} for n in range(50)]
        jobs.enqueue_many(session, backlog, now=T0)
        jobs.enqueue(session, jobs.ACCOUNT_MAIL_JOB, {"to": "a"}, now=T0 + dt.timedelta(minutes=5))
    later = T0 + dt.timedelta(minutes=10)
    first = jobs.claim(engine, session_factory, "w1", kinds=kinds, now=later, lease=LEASE)
    assert first is not None
    assert first.kind == jobs.ACCOUNT_MAIL_JOB
    second = jobs.claim(engine, session_factory, "w1", kinds=kinds, now=later, lease=LEASE)
    assert second is not None
    assert (second.kind, second.payload) == (jobs.EMBED_JOB, {"paper_id": 0})


def test_failures_back_off_with_jitter_then_stop(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    clock = Clock()

    def broken(_context: JobContext, _payload: dict[str, Any]) -> None:
        raise RuntimeError("upstream said no")

    worker = Worker(
        settings.model_copy(update={"job_max_attempts": 3, "job_retry_base_seconds": 60}),
        engine,
        session_factory,
        handlers={"broken": broken},
        clock=clock,
        rng=random.Random(7),
    )
    with session_factory.begin() as session:
        jobs.enqueue(session, "broken", now=clock())
    delays = []
    for _ in range(3):
        stats = worker.run_once()
        with session_factory() as session:
            job = session.scalars(select(Job)).one()
        if job.state == "queued":
            delays.append((job.run_after - clock()).total_seconds())
            assert worker.run_once().done == 0  # not due yet
            clock.now = job.run_after
    assert job.state == "failed"
    assert job.attempts == 3
    assert job.last_error == "RuntimeError: upstream said no"
    assert stats.failed == 1
    assert 30 <= delays[0] < 90  # 60 s ± 50 %
    assert 60 <= delays[1] < 180  # doubled


def test_retry_puts_a_failed_job_back_and_refuses_otherwise(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue(session, "x", dedupe_key="k", now=T0)
        job = session.scalars(select(Job)).one()
        job.state = "failed"
        job_id = job.id
    with session_factory.begin() as session:
        jobs.retry(session, job_id, T0)
    assert _states(session_factory) == Counter({"queued": 1})
    with session_factory.begin() as session, pytest.raises(jobs.RetryRefused, match="not failed"):
        jobs.retry(session, job_id, T0)
    with session_factory.begin() as session, pytest.raises(jobs.RetryRefused, match="no job"):
        jobs.retry(session, 999, T0)


def test_a_job_whose_worker_died_is_taken_again_after_the_lease(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue(session, "slow", now=T0)
    first = jobs.claim(engine, session_factory, "dead", kinds=["slow"], now=T0, lease=LEASE)
    assert first is not None
    soon = T0 + dt.timedelta(minutes=5)
    assert jobs.claim(engine, session_factory, "w2", kinds=["slow"], now=soon, lease=LEASE) is None
    late = T0 + dt.timedelta(minutes=16)
    again = jobs.claim(engine, session_factory, "w2", kinds=["slow"], now=late, lease=LEASE)
    assert again is not None
    assert (again.id, again.locked_by, again.attempts) == (first.id, "w2", 2)


def test_concurrent_workers_claim_each_job_once(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue_many(
            session, [{"kind": "count", "payload": {"n": n}} for n in range(200)], now=T0
        )
    seen: list[int] = []
    lock = threading.Lock()

    def count(_context: JobContext, payload: dict[str, Any]) -> None:
        with lock:
            seen.append(payload["n"])

    def run(name: str) -> None:
        Worker(
            settings,
            engine,
            session_factory,
            handlers={"count": count},
            clock=lambda: T0,
            worker_id=name,
        ).run_once()

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(200))
    assert _states(session_factory) == Counter({"done": 200})


def test_jobs_of_kinds_without_a_handler_wait(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue(session, "embed_paper", {"paper_id": 1}, now=T0)
    stats = Worker(settings, engine, session_factory, handlers={}, clock=lambda: T0).run_once()
    assert stats.done == 0
    assert _states(session_factory) == Counter({"queued": 1})


def test_the_daily_harvest_is_scheduled_once_a_day_at_its_local_time(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"harvest_enabled": True, "timezone": "Europe/Paris", "harvest_time": dt.time(6, 30)}
    )
    with session_factory.begin() as session:
        for minutes in (0, 10, 600):
            schedule_daily_harvest(session, settings, T0 + dt.timedelta(minutes=minutes))
    with session_factory() as session:
        scheduled = session.scalars(select(Job)).all()
    assert len(scheduled) == 1
    assert scheduled[0].run_after == dt.datetime(2026, 2, 10, 5, 30, tzinfo=dt.UTC)  # 06:30 CET
    assert scheduled[0].payload == {"source": "oai", "set": "cs"}
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_no_harvest_is_scheduled_unless_enabled(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory.begin() as session:
        schedule_daily_harvest(session, settings, T0)
    assert _states(session_factory) == Counter()


def test_the_daily_harvest_is_not_queued_again_once_done(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    settings = settings.model_copy(update={"harvest_enabled": True})
    runs: list[dict[str, Any]] = []
    clock = Clock(dt.datetime(2026, 2, 10, 12, 0, tzinfo=dt.UTC))
    worker = Worker(
        settings,
        engine,
        session_factory,
        handlers={"harvest": lambda _context, payload: runs.append(payload)},
        clock=clock,
    )
    for _ in range(5):
        worker.run_once()
        clock.advance(minutes=10)
    assert len(runs) == 1
    clock.advance(days=1)
    worker.run_once()
    assert len(runs) == 2


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_owner(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        jobs.enqueue(session, "slow", now=T0)
    stale = jobs.claim(engine, session_factory, "a", kinds=["slow"], now=T0, lease=LEASE)
    late = T0 + dt.timedelta(minutes=16)
    owner = jobs.claim(engine, session_factory, "b", kinds=["slow"], now=late, lease=LEASE)
    assert stale is not None
    assert owner is not None
    with session_factory.begin() as session:
        assert jobs.mark_done(session, stale, late) is False
    with session_factory() as session:
        assert session.scalars(select(Job)).one().state == "running"
    with session_factory.begin() as session:
        assert jobs.mark_done(session, owner, late) is True
    assert _states(session_factory) == Counter({"done": 1})


def test_a_long_job_keeps_its_lease_while_its_worker_lives(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """A handler running for 2.5 leases is never taken by another worker (real clock)."""
    settings = settings.model_copy(update={"job_lease_seconds": 0.6})
    with session_factory.begin() as session:
        jobs.enqueue(session, "long")
    stolen: list[int] = []
    running = threading.Event()
    finished = threading.Event()

    def long_job(_context: JobContext, _payload: dict[str, Any]) -> None:
        running.set()
        finished.wait(1.5)

    def thief() -> None:
        running.wait(5)
        while not finished.is_set():
            job = jobs.claim(
                engine, session_factory, "thief", kinds=["long"], now=jobs.utc_clock(),
                lease=dt.timedelta(seconds=0.6),
            )  # fmt: skip
            if job is not None:
                stolen.append(job.id)
            finished.wait(0.1)

    watcher = threading.Thread(target=thief)
    watcher.start()
    stats = Worker(settings, engine, session_factory, handlers={"long": long_job}).run_once()
    finished.set()
    watcher.join()
    assert stolen == []
    assert stats.done == 1
