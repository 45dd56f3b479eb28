"""The scale-out shape on a real PostgreSQL: 2 web processes (``dailypapers serve``) and 2
workers (``dailypapers worker``) on one database, under mixed browse, search and vote traffic
from concurrent clients. Votes end exact, every job runs once, no request fails."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.jobs import EMBED_JOB
from dailypapers.models import DailyEntry, Embedding, Job, Paper, Vote
from dailypapers.postgres_local import free_port
from tests.factories import api_token, make_user
from tests.support.live_server import wait_until_healthy

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

CLIENTS = 8
ROUNDS = 6
FORGOTTEN = 64  # vectors dropped and queued again: the workers' jobs


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    assert settings.database_url is not None
    env.update(
        DAILYPAPERS_DATA_DIR=str(settings.data_dir),
        DAILYPAPERS_DATABASE_URL=settings.database_url,
        DAILYPAPERS_MODEL_DIR=str(settings.resolved_model_dir),
        DAILYPAPERS_TODAY="2026-02-27",
        DAILYPAPERS_DIGEST_ENABLED="false",
        DAILYPAPERS_WORKER_POLL_SECONDS="0.1",
        DAILYPAPERS_EMBEDDING_THREADS="1",
    )
    return env


@pytest.fixture
def processes(search_settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    """Start 2 web processes and 2 workers; yield the web base URLs; stop them all."""
    env = _environment(search_settings)
    ports = [free_port(), free_port()]
    started: list[subprocess.Popen[bytes]] = []
    logs = []
    command = [sys.executable, "-m", "dailypapers.cli"]
    for i, port in enumerate(ports):
        log = (tmp_path / f"web{i}.log").open("wb")
        logs.append(log)
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
        started.append(subprocess.Popen([*command, *args], env=env, stdout=log, stderr=log))
    for i in range(2):
        log = (tmp_path / f"worker{i}.log").open("wb")
        logs.append(log)
        started.append(subprocess.Popen([*command, "worker"], env=env, stdout=log, stderr=log))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            wait_until_healthy(url)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def test_two_web_processes_and_two_workers_share_one_postgresql(
    search_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory.begin() as session:
        papers = session.scalars(
            select(DailyEntry.paper_id)
            .where(DailyEntry.feed_date == dt.date(2026, 2, 10))
            .order_by(DailyEntry.paper_id)
            .limit(10)
        ).all()
        arxiv = dict(session.execute(select(Paper.id, Paper.arxiv_id)).all())
        forgotten = sorted(arxiv)[:FORGOTTEN]
        session.execute(delete(Embedding).where(Embedding.paper_id.in_(forgotten)))
        session.execute(delete(Job))
        jobs.enqueue_many(
            session,
            [
                {"kind": EMBED_JOB, "payload": {"paper_id": p}, "dedupe_key": f"embed:{arxiv[p]}"}
                for p in forgotten
            ],
        )
        before = dict(session.execute(select(Paper.id, Paper.local_upvotes)).all())
        before_rows = dict(
            session.execute(select(Vote.paper_id, func.count()).group_by(Vote.paper_id)).all()
        )
    tokens = [
        api_token(search_settings, make_user(search_settings, f"reader{i}")) for i in range(CLIENTS)
    ]
    urls = request.getfixturevalue("processes")

    final_votes: dict[tuple[int, int], bool] = {}
    failures: list[str] = []

    def client(number: int) -> None:
        rng = random.Random(number)
        headers = {"Authorization": f"Bearer {tokens[number]}"}
        with httpx.Client(timeout=30) as http:
            for round_ in range(ROUNDS):
                base = urls[(number + round_) % 2]
                for paper_id in papers:
                    up = rng.random() < 0.6
                    path = f"{base}/api/papers/{arxiv[paper_id]}/upvote"
                    answer = (
                        http.post(path, headers=headers)
                        if up
                        else http.delete(path, headers=headers)
                    )
                    if answer.status_code != 200:
                        failures.append(f"vote {answer.status_code}: {answer.text[:200]}")
                    final_votes[(number, paper_id)] = up
                for path in (
                    "/",
                    "/papers/date/2026-02-10",
                    "/api/daily_papers?date=2026-02-10",
                    "/api/papers/search?q=language+model+agents",
                    "/search?q=robot+manipulation+cat:cs.RO",
                    f"/papers/{arxiv[papers[round_ % len(papers)]]}",
                ):
                    answer = http.get(f"{base}{path}")
                    if answer.status_code != 200:
                        failures.append(f"GET {path} {answer.status_code}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    deadline = time.monotonic() + 120
    while True:
        with factory() as session:
            pending = session.scalar(
                select(func.count()).select_from(Job).where(Job.state != jobs.DONE)
            )
        if pending == 0:
            break
        assert time.monotonic() < deadline, f"{pending} jobs still not done"
        time.sleep(0.5)

    with factory() as session:
        # Every job ran once: done, none claimed twice (a batch finishes its others unclaimed).
        attempts = session.scalars(select(Job.attempts)).all()
        assert len(attempts) == FORGOTTEN
        assert max(attempts) <= 1
        assert session.scalar(select(func.count()).select_from(Embedding)) == len(arxiv)
        # Votes are exact: each paper gained what the clients' last actions say.
        for paper_id in papers:
            expected = sum(final_votes[(n, paper_id)] for n in range(CLIENTS))
            rows = session.scalar(
                select(func.count()).select_from(Vote).where(Vote.paper_id == paper_id)
            )
            count = session.scalar(select(Paper.local_upvotes).where(Paper.id == paper_id))
            assert (rows, count) == (
                before_rows.get(paper_id, 0) + expected,
                before[paper_id] + expected,
            )
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
