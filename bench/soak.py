"""Soak: a fixed mixed rate of browse, search, vote and comment traffic against the real server
(``dailypapers serve`` and ``dailypapers worker`` as subprocesses on 127.0.0.1) for minutes; it
fails when the server's memory or tail latency grows over the run.

Open loop: every request has a scheduled time fixed before the run (``rate`` per second, evenly
spaced; kinds, papers, queries and accounts drawn from ``--seed``), and its latency counts from
that time, so a slow server shows as latency rather than as fewer requests. At most
``MAX_IN_FLIGHT`` requests are in flight; a request still queued behind them counts its wait.

The verdict (bench/soak_report.py, which holds the constants named here) compares the first
and the last ``GATE_WINDOWS`` one-minute windows after a warm-up, by their medians, so one
window hit by a neighbour's burst on this shared machine decides nothing:

- memory: the median RSS of the server (and of the worker, each with its children) may grow by
  at most ``RSS_GROWTH`` of its start or ``RSS_FLOOR_MB``, whichever is larger. A leak of a few
  KB per request adds tens of MB over the run, which this catches; allocator and cache noise
  stays well under it.
- latency: per kind, the median of the windows' p99 may reach at most ``P99_FACTOR`` times the
  start plus ``P99_SLACK_MS``. Load from other developers can double p99 for a minute; a
  growing cost per request (a scan of a table that keeps growing, a cache that never evicts)
  keeps climbing past that.
- errors: no 5xx at all, at most ``MAX_ERROR_FRACTION`` of other failures (timeouts, refused
  connections, unexpected statuses), and the vote counters must still equal the vote rows.

The store is the bundled February 2026 month loaded as ``dailypapers demo`` does (the worker
embeds it before the clock starts), in a temporary folder that is removed at the end; traffic
goes only to 127.0.0.1. The run stops by itself: a fixed count of requests, each with a timeout.

Usage: python -m bench.soak [--minutes 10] [--rate R] [--seed S] [--backend sqlite|postgresql]
[--no-append]   (the figures replace the last run's in docs/reliability.md unless --no-append)
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil  # type: ignore[import-untyped]
from sqlalchemy import func, select

from bench.common import accounts_with_tokens, machine_line
from bench.soak_report import KINDS, Outcome, Run, Sample, Verdict, judge, write_docs
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily
from dailypapers.jobs import PENDING_STATES
from dailypapers.models import DailyEntry, Job, Paper, Vote
from dailypapers.postgres_local import LocalPostgres, free_port

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "var" / "model"

MAX_IN_FLIGHT = 32
REQUEST_TIMEOUT_SECONDS = 30.0
DRAIN_TIMEOUT_SECONDS = 900.0  # the worker embedding the bundled month before the clock starts
SAMPLE_SECONDS = 5.0
ACCOUNTS = 8
VOTE_PAPERS = 200
PASSWORD = "soak password 1"
# Rate limits raised so that one loopback address can play every user.
UNLIMITED = {
    f"limit_{kind}_per_{who}": "100000000/hour"
    for kind in ("vote", "comment", "signin")
    for who in ("ip", "account")
}
# Relative weights of each request shape: mostly reading, as on a real site.
MIX = {
    "front": 4, "day": 10, "week": 5, "month": 3, "trending": 3, "paper": 15,
    "api_day": 5, "api_week": 2, "api_month": 1, "api_paper": 3,
    "search_page": 10, "search_api": 8, "vote": 20, "comment": 5,
}  # fmt: skip
QUERIES = [
    "diffusion", "large language models reasoning", "reinforcement learning from human feedback",
    "vision transformer", "agents tool use", "video generation", '"chain of thought"',
    "benchmark evaluation", "speech recognition", "robot manipulation", "mixture of experts",
    "retrieval augmented generation", "quantization", "multimodal cat:cs.CV", "3D reconstruction",
    "long context", "from:2026-02-10 safety", "-image text to speech", "has:code agents",
    "how do models learn to plan",
]  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    """What the traffic points at: the store's feed days, its papers, the accounts."""

    days: list[dt.date]
    papers: list[str]
    titles: list[str]
    accounts: list[tuple[str, str]]  # (username, API token)


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the start of the schedule
    shape: str
    method: str
    path: str
    account: int = 0
    data: dict[str, str] | None = None


def _run_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run the traffic on an event loop of its own thread: the caller's thread may already run
    one (a test process whose Playwright browser is open), where ``asyncio.run`` refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def kind_of(shape: str) -> str:
    if shape.startswith("search"):
        return "search"
    return shape if shape in ("vote", "comment") else "browse"


# Setup -------------------------------------------------------------------------------------


def load_demo(settings: Settings) -> None:
    """Migrate and load the bundled month, as ``dailypapers demo`` does."""
    engine = make_engine(settings)
    migrate.upgrade(engine)
    load_hf_daily(make_session_factory(engine), settings, DEMO_DAILY_PAPERS)
    engine.dispose()


def add_accounts(settings: Settings) -> Corpus:
    """The soak's accounts, each with an API token, and what the traffic points at."""
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        made = accounts_with_tokens(session, settings, "soak", ACCOUNTS, PASSWORD)
        days = sorted(session.scalars(select(DailyEntry.feed_date).distinct()))
        rows = session.execute(
            select(Paper.arxiv_id, Paper.title)
            .join(DailyEntry, DailyEntry.paper_id == Paper.id)
            .order_by(Paper.arxiv_id)
        ).all()
    engine.dispose()
    return Corpus(days, [r.arxiv_id for r in rows], [r.title for r in rows], made)


def schedule(corpus: Corpus, rate: float, seconds: float, seed: int) -> list[Arrival]:
    """The whole run's requests, fixed in advance. Votes toggle each (account, paper) pair, so
    the number of standing votes stays bounded; comments land on any day paper."""
    rng = random.Random(seed)
    shapes, weights = list(MIX), list(MIX.values())
    voted: set[tuple[int, str]] = set()
    vote_papers = corpus.papers[:VOTE_PAPERS]
    queries = QUERIES + rng.sample(corpus.titles, 5)
    arrivals = []
    for i in range(int(seconds * rate)):
        shape = rng.choices(shapes, weights)[0]
        day = rng.choice(corpus.days)
        year, number, _ = day.isocalendar()
        week = f"{year}-W{number:02d}"
        paper = rng.choice(corpus.papers)
        account = rng.randrange(len(corpus.accounts))
        method, path, data = "GET", "", None
        match shape:
            case "front":
                path = "/"
            case "day":
                path = f"/papers/date/{day}"
            case "week":
                path = f"/papers/week/{week}"
            case "month":
                path = f"/papers/month/{day:%Y-%m}"
            case "trending":
                path = "/papers/trending"
            case "paper":
                path = f"/papers/{paper}"
            case "api_day":
                path = f"/api/daily_papers?date={day}"
            case "api_week":
                path = f"/api/daily_papers?week={week}"
            case "api_month":
                path = f"/api/daily_papers?month={day:%Y-%m}&p={rng.randrange(3)}"
            case "api_paper":
                path = f"/api/papers/{paper}"
            case "search_page":
                path = "/search?" + urlencode({"q": rng.choice(queries)})
            case "search_api":
                path = "/api/papers/search?" + urlencode({"q": rng.choice(queries)})
            case "vote":
                pair = (account, rng.choice(vote_papers))
                method = "DELETE" if pair in voted else "POST"
                voted.symmetric_difference_update({pair})
                path = f"/api/papers/{pair[1]}/upvote"
            case "comment":
                method, path = "POST", f"/papers/{paper}/comments"
                data = {"body": f"Soak comment {i}: does *section {rng.randrange(9)}* hold up?"}
        arrivals.append(Arrival(i / rate, shape, method, path, account, data))
    return arrivals


def _command() -> list[str]:
    script = Path(sys.executable).with_name("dailypapers")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dailypapers.cli"]


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update({f"DAILYPAPERS_{k.upper()}": v for k, v in UNLIMITED.items()})
    env.update(
        DAILYPAPERS_DATA_DIR=str(settings.data_dir),
        DAILYPAPERS_MAILER="console",
    )
    if settings.today is not None:
        env["DAILYPAPERS_TODAY"] = str(settings.today)
    if settings.model_dir is not None:
        env["DAILYPAPERS_MODEL_DIR"] = str(settings.model_dir)
    if settings.database_url:
        env["DAILYPAPERS_DATABASE_URL"] = settings.database_url
    return env


@contextlib.contextmanager
def processes(
    settings: Settings, log_dir: Path
) -> Iterator[tuple[str, psutil.Process, psutil.Process]]:
    """The server and the worker; yields the base URL and both processes. Logs go to ``log_dir``.

    They stay in our process group, so the SIGTERM or SIGKILL that ``timeout`` (or a Ctrl-C)
    sends to the group stops them too, even when this process dies before its clean-up."""
    port = free_port()
    env = server_env(settings)
    started: list[subprocess.Popen[bytes]] = []
    logs = contextlib.ExitStack()
    try:
        for name, args in (
            ("server", ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]),
            ("worker", ["worker"]),
        ):
            log = logs.enter_context((log_dir / f"{name}.log").open("wb"))
            started.append(
                subprocess.Popen(
                    [*_command(), *args],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if started[0].poll() is not None:
                raise RuntimeError(f"the server exited: see {log_dir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not answer /healthz within 120 s")
        yield base, psutil.Process(started[0].pid), psutil.Process(started[1].pid)
    finally:
        for process in started:
            process.terminate()  # SIGTERM: uvicorn and the worker both stop cleanly on it
        for process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        logs.close()


def wait_for_jobs(settings: Settings, timeout: float) -> int:
    """Wait until the worker has drained the load's jobs (embeddings), so the soak measures
    steady traffic rather than the initial indexing; returns how many were done."""
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with factory() as session:
                pending = session.scalar(select(func.count()).where(Job.state.in_(PENDING_STATES)))
                total = session.scalar(select(func.count()).select_from(Job))
            if not pending:
                return int(total or 0)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pending} jobs still pending after {timeout:.0f} s")
            print(f"  waiting for the worker: {pending} jobs pending", flush=True)
            time.sleep(10)
    finally:
        engine.dispose()


def vote_mismatch(settings: Settings) -> int:
    """Stored counters against vote rows: anything but 0 is a lost or doubled vote."""
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        rows = session.scalar(select(func.count()).select_from(Vote)) or 0
        counters = session.scalar(select(func.coalesce(func.sum(Paper.local_upvotes), 0))) or 0
    engine.dispose()
    return abs(int(rows) - int(counters))


# Traffic -----------------------------------------------------------------------------------


async def sign_in(base: str, username: str) -> tuple[httpx.AsyncClient, str]:
    """A browser-like session: the sign-in form's CSRF token, the cookie, then the session's
    token as a paper page's comment form carries it."""
    client = httpx.AsyncClient(
        base_url=base, timeout=REQUEST_TIMEOUT_SECONDS, headers={"Origin": base}
    )
    form = await client.get("/signin")
    token = _csrf(form.text)
    signed = await client.post(
        "/signin", data={"login": username, "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    if signed.status_code != 303:
        raise RuntimeError(f"sign-in of {username} answered {signed.status_code}")
    front = await client.get("/")
    return client, _csrf(front.text)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


async def drive(
    base: str,
    corpus: Corpus,
    arrivals: list[Arrival],
    run: Run,
    offset: float,
    processes_by_name: dict[str, psutil.Process],
    sample_seconds: float,
) -> None:
    """Send ``arrivals`` on schedule; outcomes land in ``run`` with times shifted by ``offset``
    (negative during the warm-up, which is then left out); memory is sampled every
    ``sample_seconds``."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    anonymous = httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits)
    sessions = [await sign_in(base, name) for name, _ in corpus.accounts]
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    start = time.monotonic()

    async def one(arrival: Arrival) -> None:
        async with gate:
            sent = time.monotonic()
            status = "?"
            try:
                if arrival.shape == "comment":
                    client, token = sessions[arrival.account]
                    response = await client.post(
                        arrival.path, data={**(arrival.data or {}), "csrf_token": token}
                    )
                else:
                    token = corpus.accounts[arrival.account][1]
                    headers = (
                        {"Authorization": f"Bearer {token}"} if arrival.shape == "vote" else {}
                    )
                    response = await anonymous.request(
                        arrival.method, arrival.path, headers=headers
                    )
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            done = time.monotonic()
        scheduled = start + arrival.at
        kind = kind_of(arrival.shape)
        run.outcomes.append(
            Outcome(offset + arrival.at, kind, status, done - scheduled, sent - scheduled)
        )

    async def sampler() -> None:
        while True:
            run.samples.append(measure(processes_by_name, offset + time.monotonic() - start))
            await asyncio.sleep(sample_seconds)

    sampling = asyncio.create_task(sampler())
    tasks = []
    try:
        for arrival in arrivals:
            delay = start + arrival.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(arrival)))
        await asyncio.gather(*tasks)
    finally:
        sampling.cancel()
        for task in tasks:
            task.cancel()
        await anonymous.aclose()
        for client, _ in sessions:
            await client.aclose()


def measure(by_name: dict[str, psutil.Process], at: float) -> Sample:
    """RSS of each process with its children, and the server's threads and open files."""
    rss = {}
    for name, process in by_name.items():
        tree = [process, *process.children(recursive=True)]
        rss[name] = sum(p.memory_info().rss for p in tree) / 2**20
    server = by_name["server"]
    return Sample(at, rss, server.num_threads(), server.num_fds())


# Main --------------------------------------------------------------------------------------


def _stop_on_sigterm(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so `timeout` and a plain kill clean up like Ctrl-C does


@dataclass(frozen=True)
class Plan:
    """How long, how fast and how the run is cut into windows."""

    minutes: float = 10.0
    rate: float = 20.0  # requests per second
    warmup: float = 30.0  # seconds of traffic before the clock starts, not measured
    window_seconds: float = 60.0
    seed: int = 15


def run_soak(settings: Settings, corpus: Corpus, plan: Plan, log_dir: Path) -> tuple[Verdict, int]:
    """Start the server and the worker on ``settings``' store, wait for the worker's backlog,
    drive the warm-up and then the measured traffic; returns the verdict and the jobs done."""
    seconds = plan.minutes * 60
    arrivals = schedule(corpus, plan.rate, plan.warmup + seconds, plan.seed)
    split = next((i for i, a in enumerate(arrivals) if a.at >= plan.warmup), len(arrivals))
    warmup = arrivals[:split]
    measured = [replace(a, at=a.at - plan.warmup) for a in arrivals[split:]]
    every = min(SAMPLE_SECONDS, plan.window_seconds / 5)
    with processes(settings, log_dir) as (base, web, worker):
        jobs_done = wait_for_jobs(settings, timeout=DRAIN_TIMEOUT_SECONDS)
        print(f"{jobs_done} jobs done by the worker; warm-up {plan.warmup:.0f} s", flush=True)
        watched = {"server": web, "worker": worker}
        run = Run()
        _run_loop(drive(base, corpus, warmup, Run(), -plan.warmup, watched, every))
        print(f"soak: {len(measured)} requests over {seconds:.0f} s", flush=True)
        _run_loop(drive(base, corpus, measured, run, 0.0, watched, every))
    verdict = judge(run, max(1, round(seconds / plan.window_seconds)), plan.window_seconds)
    mismatch = vote_mismatch(settings)
    verdict.lines.append(f"- vote counters vs vote rows after the run: {mismatch} apart")
    if mismatch:
        verdict.failures.append(f"vote counters are {mismatch} away from the vote rows")
    return verdict, jobs_done


def soak(args: argparse.Namespace, plan: Plan, folder: Path) -> tuple[Verdict, dict[str, str]]:
    """The whole run in ``folder``: a PostgreSQL server there if asked, the demo store, the soak."""
    server: LocalPostgres | None = None
    url = None
    if args.backend == "postgresql":
        server = LocalPostgres(folder / "pg" / "data").start()
        url = server.create_database("soak")
    try:
        settings = Settings(
            data_dir=folder,
            database_url=url,
            model_dir=MODEL_DIR if (MODEL_DIR / "model.onnx").exists() else None,
        )
        print("loading the bundled month…", flush=True)
        load_demo(settings)
        corpus = add_accounts(settings)
        # "Today" is the last bundled day, as in the demo, so the front page and trending fill.
        settings = settings.model_copy(update={"today": corpus.days[-1]})
        verdict, jobs_done = run_soak(settings, corpus, plan, folder)
        facts = {
            "backend": args.backend,
            "papers": str(len(corpus.papers)),
            "jobs": str(jobs_done),
            "search": "hybrid" if settings.model_dir else "lexical only (no model)",
        }
        return verdict, facts
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Plan()
    parser.add_argument("--minutes", type=float, default=default.minutes)
    parser.add_argument("--rate", type=float, default=default.rate, help="requests per second")
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--warmup", type=float, default=default.warmup, help="seconds, unmeasured")
    parser.add_argument("--window-seconds", type=float, default=default.window_seconds)
    parser.add_argument("--no-append", action="store_true", help="do not write the docs")
    args = parser.parse_args()
    plan = Plan(args.minutes, args.rate, args.warmup, args.window_seconds, args.seed)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    machine = machine_line()  # the commit and time the run started with
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as folder:
            verdict, facts = soak(args, plan, Path(folder))
    except KeyboardInterrupt:
        print("soak: interrupted; processes stopped and the temporary folder removed")
        sys.exit(130)
    mix = ", ".join(
        f"{k} {sum(w for s, w in MIX.items() if kind_of(s) == k) / sum(MIX.values()):.0%}"
        for k in KINDS
    )
    header = [
        f"_{machine}_",
        "",
        f"{args.minutes:g} min at {args.rate:g} requests/s after a {args.warmup:g} s warm-up, "
        f"seed {args.seed}, {facts['backend']} ({facts['papers']} day papers, {facts['jobs']} "
        f"worker jobs drained first, search {facts['search']}); mix {mix}; "
        f"at most {MAX_IN_FLIGHT} in flight; latency counted from each request's scheduled time.",
        "",
    ]
    result = "**PASS**" if not verdict.failures else "**FAIL**: " + "; ".join(verdict.failures)
    text = "\n".join([*header, *verdict.lines, "", f"Result: {result}"])
    print(text)
    if not args.no_append:
        write_docs(text, args.backend)
    sys.exit(1 if verdict.failures else 0)


if __name__ == "__main__":
    main()
