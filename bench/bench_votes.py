"""Sustained upvotes over HTTP from 8 concurrent clients against SQLite, vs. a no-op endpoint.

Setup: the bundled month in a fresh SQLite file, 8 accounts with API tokens, vote and IP rate
limits raised by settings. The app runs under uvicorn in its own process on 127.0.0.1 (as
``dailypapers serve`` runs it), with one extra route, ``GET /bench/noop``, an endpoint
that returns ``{}``: the framework's floor in the same run. Clients: 8 concurrent httpx
clients (asyncio, keep-alive) in this process; each votes and un-votes on 40 papers
(POST/DELETE ``/api/papers/{id}/upvote``, toggling its own vote), so every request writes.
After the run the stored counters are compared with what the clients' successful requests
imply: a lost or double vote shows as a difference.

Usage: python -m bench.bench_votes [--seconds S] [--clients N] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench.common import accounts_with_tokens, append_section, summary_ms
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily
from dailypapers.models import DailyEntry, Paper

TARGET_RATE, TARGET_P99_MS = 300.0, 50.0
PAPERS = 40
LIMITS = {
    "limit_vote_per_ip": "10000000/hour",
    "limit_vote_per_account": "10000000/hour",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_app() -> Any:
    """The app for uvicorn's workers (settings from the environment), plus the no-op route."""
    from dailypapers.web.app import create_app

    app = create_app(Settings())

    def noop() -> dict[str, Any]:
        return {}

    app.add_api_route("/bench/noop", noop, methods=["GET"])
    return app


def _start_server(settings: Settings, port: int, workers: int) -> subprocess.Popen[bytes]:
    """uvicorn as deployed: its own process(es), settings from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update({f"DAILYPAPERS_{k.upper()}": str(v) for k, v in LIMITS.items()})
    env.update(DAILYPAPERS_DATA_DIR=str(settings.data_dir), DAILYPAPERS_TODAY="2026-02-27")
    if settings.database_url:
        env["DAILYPAPERS_DATABASE_URL"] = settings.database_url
    command = [
        sys.executable, "-m", "uvicorn", "bench.bench_votes:bench_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=Path(__file__).parent.parent)


@contextmanager
def running_server(settings: Settings, workers: int) -> Iterator[str]:
    """uvicorn with ``workers`` processes on a free port until the block ends; yields its URL."""
    port = _free_port()
    server = _start_server(settings, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base
    finally:
        server.terminate()  # SIGTERM: uvicorn stops its workers too
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def lost_votes(settings: Settings, papers: list[str], states: list[dict[str, bool]]) -> int:
    """How far the stored counters are from what the clients' successful requests imply."""
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        stored = dict(
            session.execute(
                select(Paper.arxiv_id, Paper.local_upvotes).where(Paper.arxiv_id.in_(papers))
            ).all()
        )
    engine.dispose()
    expected = {paper: sum(state.get(paper, False) for state in states) for paper in papers}
    return sum(abs(stored[p] - expected[p]) for p in papers)


def _prepare(folder: Path, clients: int) -> tuple[Settings, list[str], list[str]]:
    settings = Settings(data_dir=folder, today=dt.date(2026, 2, 27), **LIMITS)  # type: ignore[arg-type]
    engine = make_engine(settings)
    migrate.upgrade(engine)
    load_hf_daily(make_session_factory(engine), settings, DEMO_DAILY_PAPERS)
    engine.dispose()
    tokens, papers = create_voters(settings, clients)
    return settings, tokens, papers


def create_voters(settings: Settings, clients: int) -> tuple[list[str], list[str]]:
    """``clients`` accounts with API tokens, and the PAPERS day papers they vote on."""
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        made = accounts_with_tokens(session, settings, "bench", clients, "benchmark password")
        tokens = [token for _name, token in made]
        papers = list(
            session.scalars(
                select(Paper.arxiv_id)
                .join(DailyEntry, DailyEntry.paper_id == Paper.id)
                .order_by(Paper.arxiv_id)
                .limit(PAPERS)
            )
        )
    engine.dispose()
    return tokens, papers


async def _client_loop(
    base: str,
    token: str,
    papers: list[str],
    path_for: Any,
    deadline: float,
    samples: list[float],
    errors: list[str],
    state: dict[str, bool] | None,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        index = 0
        while time.perf_counter() < deadline:
            paper = papers[index % len(papers)]
            index += 1
            method, path = path_for(paper, state)
            started = time.perf_counter()
            try:
                response = await http.request(method, path)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:100]}")
            elif state is not None:
                state[paper] = response.json()["voted"]


def _vote_path(paper: str, state: dict[str, bool] | None) -> tuple[str, str]:
    assert state is not None
    return ("DELETE" if state.get(paper) else "POST"), f"/api/papers/{paper}/upvote"


def _noop_path(_paper: str, _state: dict[str, bool] | None) -> tuple[str, str]:
    return "GET", "/bench/noop"


async def _run(
    base: str, tokens: list[str], papers: list[str], seconds: float, voting: bool
) -> tuple[list[float], list[str], list[dict[str, bool]], float]:
    samples: list[float] = []
    errors: list[str] = []
    states: list[dict[str, bool]] = [{} for _ in tokens]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _client_loop(
                base,
                token,
                papers,
                _vote_path if voting else _noop_path,
                deadline,
                samples,
                errors,
                states[i] if voting else None,
            )
            for i, token in enumerate(tokens)
        )
    )
    return samples, errors, states, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-votes-") as folder:
        settings, tokens, papers = _prepare(Path(folder), args.clients)
        with running_server(settings, args.workers) as base:
            asyncio.run(_run(base, tokens, papers, 2.0, voting=False))  # warm-up
            noop, noop_errors, _, noop_seconds = asyncio.run(
                _run(base, tokens, papers, args.seconds, voting=False)
            )
            votes, vote_errors, states, vote_seconds = asyncio.run(
                _run(base, tokens, papers, args.seconds, voting=True)
            )
        lost = lost_votes(settings, papers, states)
    expected = {paper: sum(state.get(paper, False) for state in states) for paper in papers}
    vote_rate = len(votes) / vote_seconds
    noop_rate = len(noop) / noop_seconds
    vote_ms, noop_ms = summary_ms(votes), summary_ms(noop)
    errors = len(vote_errors) + len(noop_errors)
    ok = vote_rate >= TARGET_RATE and vote_ms["p99"] <= TARGET_P99_MS and not errors and not lost
    lines = [
        f"{args.clients} clients (asyncio httpx, keep-alive) against uvicorn in its own process, "
        f"{args.seconds:.0f} s each; every vote request toggles one of {PAPERS} papers.",
        "",
        f"upvotes (SQLite, {args.clients} clients): {vote_rate:,.0f} votes/s, "
        f"p50 {vote_ms['p50']:.1f} ms, p95 {vote_ms['p95']:.1f} ms, p99 {vote_ms['p99']:.1f} ms, "
        f"{len(vote_errors)} errors, {lost} lost votes ({sum(expected.values())} standing votes "
        "checked against the stored counters)",
        "",
        f"no-op endpoint, same clients: {noop_rate:,.0f} requests/s, p50 {noop_ms['p50']:.1f} ms, "
        f"p99 {noop_ms['p99']:.1f} ms, {len(noop_errors)} errors "
        f"(votes reach {vote_rate / noop_rate:.2f}× the floor's rate)",
        "",
        f"Targets ≥ {TARGET_RATE:.0f} votes/s, p99 ≤ {TARGET_P99_MS:.0f} ms, 0 errors, 0 lost: "
        f"{'met' if ok else 'MISSED'}.",
    ]
    if vote_errors[:3]:
        lines += ["", f"First errors: {vote_errors[:3]}"]
    title = f"Upvotes over HTTP, {args.clients} clients (bench/bench_votes.py)"
    if args.no_append:
        print("\n".join(lines))
    else:
        append_section(title, lines)


if __name__ == "__main__":
    main()
