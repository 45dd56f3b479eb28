"""Crash harness (issue 15): SIGKILL the server, the worker and an ingest at seeded random
moments under bounded load, restart each, then check that nothing was lost or done twice.

Everything is a real process on 127.0.0.1: ``dailypapers serve``, ``dailypapers worker`` and
``dailypapers ingest snapshot`` as subprocesses (each in its own process group, so a kill takes
an ingest's reader process too), aiosmtpd for the digests, a stand-in arXiv for submissions.
The load (bench/crash_load.py) votes through the JSON API with tokens, comments through the
signed-in form and submits papers; the worker sends one digest period before each of its kills.
The invariants are in bench/crash_checks.py.

    python -m bench.crash_harness --kills 30 --seed 1 --backend sqlite|postgresql [--append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import accounts_with_tokens
from bench.crash_checks import Evidence, Invariant, check_all, ingested_papers, snapshot_ids
from bench.crash_load import Account, Load, LoadRecord
from dailypapers import jobs, migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.models import DailyEntry, Job, Paper
from tests.factories import add_subscription
from tests.support import free_port
from tests.support.fake_remotes import FakeRemote
from tests.support.smtp import SmtpRecorder

KINDS = ("server", "worker", "ingest")
SHARED_SNAPSHOT = Path(__file__).parents[2] / "shared/data/arxiv_snapshot_sample.jsonl.gz"
FIXTURE_SNAPSHOT = Path(__file__).parents[1] / "tests/data/arxiv_snapshot_150.jsonl.gz"
RELIABILITY_MD = Path(__file__).parents[1] / "docs/reliability.md"
SECTION = "## Crash harness"
PASSWORD = "crash-harness-password"
LEASE_SECONDS = 1.5  # a dead worker's job is claimed again this soon
FIRST_PERIOD = dt.date(2026, 2, 1)
UNLIMITED = "100000/hour"  # the load must not be refused by rate limits
CHUNK_SIZE = 10  # subscriptions per digest send job: a period is several jobs
INGEST_BATCH = 100  # records per ingest transaction: a file is many, a kill lands between


@dataclass
class HarnessConfig:
    workdir: Path
    kills: int = 9
    seed: int = 0
    database_url: str | None = None  # None: an SQLite file in workdir
    snapshot: Path = field(
        default_factory=lambda: SHARED_SNAPSHOT if SHARED_SNAPSHOT.exists() else FIXTURE_SNAPSHOT
    )
    daily_papers: Path = DEMO_DAILY_PAPERS  # the list the load votes and comments on
    voters: int = 4
    subscribers: int = 20
    papers: int = 12
    submissions: int = 40
    smtp_delay_seconds: float = 0.02  # per message, so a period's send spans a kill
    drain_timeout_seconds: float = 90.0

    @property
    def backend(self) -> str:
        return "postgresql" if self.database_url else "sqlite"


@dataclass
class Report:
    backend: str
    seed: int
    kills: Counter[str]
    missed_kills: int  # ingest runs that finished before their kill came
    periods: int
    mails: int
    record: LoadRecord
    invariants: list[Invariant]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.invariants)

    def lines(self) -> list[str]:
        kills = ", ".join(f"{kind} {self.kills[kind]}" for kind in KINDS)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.record.outcomes.items()))
        lines = [
            f"- backend {self.backend}, seed {self.seed}, {self.seconds:.0f} s",
            f"- kills (SIGKILL): {kills}; ingest runs that finished before their kill: "
            f"{self.missed_kills}",
            f"- requests: {self.record.requests} ({outcomes})",
            f"- writes acknowledged: {self.record.acknowledged()}",
            f"- digest periods sent: {self.periods}, messages received: {self.mails}",
            "- invariants:",
        ]
        lines += [f"  - {'ok' if c.ok else 'BROKEN'}: {c.name} ({c.detail})" for c in self]
        return lines

    def __iter__(self) -> Iterator[Invariant]:
        return iter(self.invariants)


class Proc:
    """One ``dailypapers`` subprocess, in its own process group, logging to a file."""

    def __init__(self, kind: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.kind, self.args, self.env, self.log = kind, args, env, log
        self.popen: subprocess.Popen[bytes] | None = None
        self.unexpected_exits: list[str] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "dailypapers.cli", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def note_exit(self) -> None:
        """Record an exit we did not cause (an ingest that finished is fine: status 0)."""
        if self.popen is not None and self.popen.poll() not in (None, 0):
            self.unexpected_exits.append(f"{self.kind} exited {self.popen.returncode}")

    def signal(self, number: int, timeout: float = 30) -> bool:
        """Send ``number`` to the process group and wait; False when it had already exited."""
        if self.popen is None or not self.alive:
            return False
        try:
            os.killpg(self.popen.pid, number)
        except ProcessLookupError:
            return False
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)
        return True

    def kill(self) -> bool:
        return self.signal(signal.SIGKILL)

    def stop(self) -> None:
        self.signal(signal.SIGTERM, timeout=20)


class ArxivStub(FakeRemote):
    """The arXiv API on 127.0.0.1 answering any id with a paper published just now (a
    submission is refused for papers older than SUBMIT_MAX_AGE_DAYS of the real clock)."""

    def __init__(self) -> None:
        super().__init__()
        # A server killed mid-request leaves a broken pipe here: expected, not worth a trace.
        self.server.handle_error = lambda *_args: None  # type: ignore[method-assign]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        if path != "/api/query" or "id_list" not in query:
            return super().answer(path, query)
        arxiv_id = query["id_list"].split(",")[0]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        atom = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
 xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>http://arxiv.org/api/crash-harness</id><updated>{now}</updated>
  <title type="html">ArXiv Query: id_list={arxiv_id}</title>
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/{arxiv_id}v1</id><updated>{now}</updated><published>{now}</published>
    <title>Crash harness paper {arxiv_id}</title>
    <summary>A paper made up by the crash harness to be submitted while processes die.</summary>
    <author><name>Ada Harness</name></author>
    <link href="http://arxiv.org/abs/{arxiv_id}v1" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>"""
        return 200, atom.encode(), "application/atom+xml"


def _environment(config: HarnessConfig, smtp_port: int, arxiv_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    values = {
        "DATA_DIR": str(config.workdir),
        "BASE_URL": "http://testserver",
        "SECRET_KEY": "crash-harness-secret-key-not-for-production",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT_SECONDS": "10",
        "DIGEST_ENABLED": "false",  # the harness schedules the periods itself
        "HARVEST_ENABLED": "false",
        "DIGEST_CHUNK_SIZE": str(CHUNK_SIZE),
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKER_POLL_SECONDS": "0.1",
        "JOB_RETRY_BASE_SECONDS": "0.2",
        "JOB_RETRY_CAP_SECONDS": "1",
        "ARXIV_API_URL": f"{arxiv_url}/api/query",
        "ARXIV_DELAY_SECONDS": "0",
        "HTTP_TIMEOUT_SECONDS": "5",
        "SUBMIT_DAILY_CAP": "100000",
    }
    for action in ("signin", "signup", "reset", "submit", "vote", "comment"):
        values[f"LIMIT_{action.upper()}_PER_IP"] = UNLIMITED
        values[f"LIMIT_{action.upper()}_PER_ACCOUNT"] = UNLIMITED
    if config.database_url:
        values["DATABASE_URL"] = config.database_url
    env.update({f"DAILYPAPERS_{k}": v for k, v in values.items()})
    return env


def _prepare(
    config: HarnessConfig, settings: Settings, factory: sessionmaker[Session]
) -> tuple[list[Account], list[str]]:
    """The demo month (unless already loaded), accounts with tokens, subscribers; returns the
    accounts and the papers the load votes and comments on (the last day's)."""
    with factory() as session:
        loaded = session.scalar(select(func.count()).select_from(Paper)) or 0
    if not loaded:
        stats = load_hf_daily(factory, settings, config.daily_papers)
        assert stats.failed == 0, stats.errors[:3]
    with factory.begin() as session:
        # voters, a commenter, a submitter
        made = accounts_with_tokens(session, settings, "harness", config.voters + 2, PASSWORD)
        accounts = [Account(name, PASSWORD, token) for name, token in made]
        for index in range(config.subscribers):
            add_subscription(session, f"reader{index:03d}@example.org")
        day = session.scalar(select(func.max(DailyEntry.feed_date)))
        papers = session.scalars(
            select(Paper.arxiv_id)
            .join(DailyEntry)
            .where(DailyEntry.feed_date == day)
            .order_by(Paper.arxiv_id)
            .limit(config.papers)
        ).all()
    return accounts, list(papers)


def _wait_healthy(url: str, server: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not server.alive:
            raise RuntimeError(f"the server exited; see {server.log}")
        time.sleep(0.1)
    raise RuntimeError(f"the server did not come up; see {server.log}")


@contextmanager
def _remotes(delay: float) -> Iterator[tuple[SmtpRecorder, int, ArxivStub]]:
    recorder = SmtpRecorder(delay_seconds=delay)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        arxiv = ArxivStub()
        with arxiv:
            yield recorder, port, arxiv
    finally:
        controller.stop()


class Harness:
    """One run: start the processes, kill them under load, drain, check."""

    def __init__(self, config: HarnessConfig, env: dict[str, str], url: str) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.url = url
        port = url.rsplit(":", 1)[1]
        logs = config.workdir
        self.server = Proc(
            "server",
            ["serve", "--host", "127.0.0.1", "--port", port, "--no-migrate"],
            env,
            logs / "server.log",
        )
        self.worker = Proc("worker", ["worker"], env, logs / "worker.log")
        ingest_args = [
            "ingest",
            "snapshot",
            "--batch-size",
            str(INGEST_BATCH),
            str(config.snapshot),
        ]
        self.ingest = Proc("ingest", ingest_args, env, logs / "ingest.log")
        self.kills: Counter[str] = Counter()
        self.missed_kills = 0
        self.periods: list[str] = []

    def schedule_period(self, factory: sessionmaker[Session]) -> None:
        """Queue the next period's scheduling job: the worker claims its rows and sends them
        (both under the kill that follows)."""
        key = f"daily:{FIRST_PERIOD + dt.timedelta(days=len(self.periods))}"
        with factory.begin() as session:
            jobs.enqueue(
                session,
                jobs.DIGEST_SCHEDULE_JOB,
                {"period": key},
                dedupe_key=f"schedule:{key}",
                now=dt.datetime.now(dt.UTC),
            )
        self.periods.append(key)

    def _check_alive(self, proc: Proc) -> None:
        if not proc.alive:  # died on its own: record why, and bring it back
            proc.note_exit()
            proc.start()

    def kill(self, kind: str, factory: sessionmaker[Session]) -> None:
        rng = self.rng
        if kind == "server":
            self._check_alive(self.server)
            time.sleep(rng.uniform(0.2, 1.5))
            self.kills[kind] += self.server.kill()
            self.server.start()
            _wait_healthy(self.url, self.server)
        elif kind == "worker":
            self._check_alive(self.worker)
            self.schedule_period(factory)
            time.sleep(rng.uniform(0.1, 1.2))
            self.kills[kind] += self.worker.kill()
            self.worker.start()
        else:
            for attempt in range(4):
                if not self.ingest.alive:
                    self.ingest.note_exit()
                    self.ingest.start()
                time.sleep(rng.uniform(0.3, 2.5) / (attempt + 1))
                if self.ingest.kill():
                    self.kills[kind] += 1
                    self.ingest.start()  # resumes from its checkpoint
                    return
                self.missed_kills += 1

    def finish_ingest(self) -> None:
        """Let the last restarted ingest (or a fresh rerun) run to its end, unkilled."""
        if self.ingest.popen is not None:
            try:
                self.ingest.popen.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self.ingest.unexpected_exits.append("ingest did not finish in 300 s")
            self.ingest.note_exit()
        self.ingest.start()
        assert self.ingest.popen is not None
        self.ingest.popen.wait(timeout=300)
        self.ingest.note_exit()


def _reference(config: HarnessConfig) -> dict[str, tuple[object, ...]]:
    """What one uninterrupted ingest of the snapshot stores, after the same demo month, in a
    SQLite file of its own: the killed and resumed ingests must end with the same papers."""
    folder = config.workdir / "reference"
    settings = Settings(data_dir=folder, digest_enabled=False)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        stats = load_hf_daily(factory, settings, config.daily_papers)
        assert stats.failed == 0, stats.errors[:3]
        load_snapshot(factory, config.snapshot, batch_size=INGEST_BATCH)
        with factory() as session:
            return ingested_papers(session, set(snapshot_ids(config.snapshot)))
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _drain(factory: sessionmaker[Session], timeout: float) -> list[str]:
    """Wait until the restarted worker has finished every runnable job (embeddings wait for a
    model the harness does not install); returns a complaint when it does not in time."""
    deadline = time.monotonic() + timeout
    busy = Job.state.in_(("queued", "running")) & (Job.kind != jobs.EMBED_JOB)
    while time.monotonic() < deadline:
        with factory() as session:
            left = session.scalar(select(func.count()).select_from(Job).where(busy)) or 0
        if not left:
            return []
        time.sleep(0.2)
    return [f"the worker left {left} jobs unfinished after {timeout:.0f} s"]


def _shown_upvotes(url: str, papers: list[str]) -> dict[str, int]:
    """The upvotes the restarted server shows for each paper the load voted on."""
    with httpx.Client(base_url=url, timeout=15) as client:
        return {i: int(client.get(f"/api/papers/{i}").json()["upvotes"]) for i in papers}


def run(config: HarnessConfig) -> Report:
    started = time.monotonic()
    settings = Settings(
        data_dir=config.workdir,
        database_url=config.database_url,
        digest_enabled=False,
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    accounts, papers = _prepare(config, settings, factory)
    url = f"http://127.0.0.1:{free_port()}"
    with _remotes(config.smtp_delay_seconds) as (smtp, smtp_port, arxiv):
        env = _environment(config, smtp_port, arxiv.url)
        harness = Harness(config, env, url)
        record = LoadRecord()
        submit_ids = [f"2611.{90000 + i:05d}" for i in range(config.submissions)]
        load = Load(url, accounts, papers, record, seed=config.seed, submit_ids=submit_ids)
        kinds = [KINDS[i % len(KINDS)] for i in range(config.kills)]
        harness.rng.shuffle(kinds)
        procs = (harness.server, harness.worker, harness.ingest)
        try:
            harness.server.start()
            _wait_healthy(url, harness.server)
            harness.worker.start()
            harness.ingest.start()
            load.start()
            for kind in kinds:
                time.sleep(harness.rng.uniform(0.2, 0.8))  # load between two kills
                harness.kill(kind, factory)
            load.stop()
            load.settle_submissions()
            harness.finish_ingest()
            drained = _drain(factory, config.drain_timeout_seconds)
            evidence = Evidence(
                record=record,
                messages=list(smtp.messages),
                periods=harness.periods,
                worker_kills=harness.kills["worker"],
                snapshot=config.snapshot,
                lease_seconds=LEASE_SECONDS,
                shown=_shown_upvotes(url, papers),
                reference=_reference(config),
                unexpected=[e for p in procs for e in p.unexpected_exits] + drained,
            )
            invariants = check_all(engine, evidence)
        finally:
            load.stop()
            for proc in procs:
                proc.stop()
            engine.dispose()
    return Report(
        backend=config.backend,
        seed=config.seed,
        kills=harness.kills,
        missed_kills=harness.missed_kills,
        periods=len(harness.periods),
        mails=smtp.count(),
        record=record,
        invariants=invariants,
        seconds=time.monotonic() - started,
    )


def append_to_reliability(report: Report, kills: int) -> None:
    """Add this run under "## Crash harness" in docs/reliability.md, before any later section
    (another section of the same file, such as "## Soak", belongs to other runs)."""
    from bench.common import machine_line

    block = [f"### {kills} kills, {report.backend}", "", f"_{machine_line()}_", "", *report.lines()]
    text = RELIABILITY_MD.read_text() if RELIABILITY_MD.exists() else "# Reliability\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n"
    head, tail = text.split(SECTION, 1)
    following = tail.find("\n## ")
    body, rest = (tail, "") if following < 0 else (tail[:following], tail[following:])
    body = body.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"
    RELIABILITY_MD.write_text(head + SECTION + body + rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=9, help="kills in all, spread over kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--snapshot", type=Path, help="snapshot file the ingest loads")
    parser.add_argument("--append", action="store_true", help="add the run to reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dailypapers-crash-"))
    server = None
    try:
        database_url = None
        if options.backend == "postgresql":
            from dailypapers.postgres_local import LocalPostgres

            server = LocalPostgres(workdir / "pg").start({"fsync": "off"})
            database_url = server.create_database("crash")
        config = HarnessConfig(
            workdir=workdir, kills=options.kills, seed=options.seed, database_url=database_url
        )
        if options.snapshot:
            config.snapshot = options.snapshot
        report = run(config)
    finally:
        if server is not None:
            server.stop()
        if options.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(report.lines()))
    if options.append:
        append_to_reliability(report, options.kills)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
