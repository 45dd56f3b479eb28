"""Shared helpers for benchmarks: percentiles, machine facts, appending to docs/benchmarks.md,
and the app under uvicorn in a thread (benchmarks do not import the tests)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy.orm import Session

from dailypapers import accounts
from dailypapers.config import Settings

BENCHMARKS_MD = Path(__file__).parent.parent / "docs" / "benchmarks.md"


def accounts_with_tokens(
    session: Session, settings: Settings, prefix: str, count: int, password: str
) -> list[tuple[str, str]]:
    """``count`` confirmed accounts ``{prefix}0``… with an API token each: (name, token)."""
    now = dt.datetime.now(dt.UTC)
    made = []
    for index in range(count):
        name = f"{prefix}{index}"
        user = accounts.create_user(
            session,
            settings,
            username=name,
            email=f"{name}@example.org",
            password=password,
            now=now,
        )
        made.append((name, accounts.create_api_token(session, user, prefix, now).secret))
    return made


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean of durations given in seconds, in milliseconds."""
    return {
        "p50": percentile(samples, 0.50) * 1000,
        "p95": percentile(samples, 0.95) * 1000,
        "p99": percentile(samples, 0.99) * 1000,
        "mean": statistics.fmean(samples) * 1000,
    }


@dataclass(frozen=True)
class TimedPage:
    """A page a benchmark times: who asks, for what, and optionally what to undo before each
    request (a cold request) and how many requests a round makes of it."""

    client: httpx.Client
    path: str
    before_each: Callable[[], None] | None = None
    requests: int | None = None  # None: the run's number per round


# Page name → (summary of every request, p50 of each round in ms).
PageTimes = dict[str, tuple[dict[str, float], list[float]]]


def measure_pages(
    pages: Mapping[str, TimedPage], rounds: int, requests: int, *, warmup: int = 20
) -> PageTimes:
    """Time every page in interleaved rounds (so a noisy spell hits them all), after
    ``warmup`` untimed requests each."""
    samples: dict[str, list[float]] = {name: [] for name in pages}
    round_p50s: dict[str, list[float]] = {name: [] for name in pages}
    for page in pages.values():
        for _ in range(warmup):
            page.client.get(page.path).raise_for_status()
    for _ in range(rounds):
        for name, page in pages.items():
            taken = []
            for _ in range(page.requests or requests):
                if page.before_each is not None:
                    page.before_each()
                started = time.perf_counter()
                answer = page.client.get(page.path)
                taken.append(time.perf_counter() - started)
                answer.raise_for_status()
            samples[name] += taken
            round_p50s[name].append(statistics.median(taken) * 1000)
    return {name: (summary_ms(samples[name]), round_p50s[name]) for name in pages}


def ratio_table(figures: PageTimes, baseline: str, label: str = "anonymous day page") -> list[str]:
    """The markdown table of ``figures``, each p50 also as a ratio to the ``baseline`` page's
    (called ``label`` in the header)."""
    base = figures[baseline][0]["p50"]
    lines = [
        f"| page | p50 | p95 | round p50s | p50 / {label} |",
        "|---|---:|---:|---|---:|",
    ]
    for name, (summary, per_round) in figures.items():
        spread = f"{min(per_round):.1f}–{max(per_round):.1f} ms"
        lines.append(
            f"| {name} | {summary['p50']:.1f} ms | {summary['p95']:.1f} ms | {spread} | "
            f"{summary['p50'] / base:.2f}× |"
        )
    return lines


def machine_line() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · commit {commit} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · {platform.machine()}"
    )


def append_section(title: str, lines: Sequence[str]) -> None:
    """Append one run's figures under a heading to docs/benchmarks.md (and print them)."""
    block = [f"### {title}", "", f"_{machine_line()}_", "", *lines, ""]
    text = "\n".join(block)
    print(text)
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text("# Benchmarks\n\nAppended by the scripts under `bench/`.\n\n")
    with BENCHMARKS_MD.open("a") as handle:
        handle.write(text + "\n")


def publish(title: str, lines: Sequence[str], print_only: bool) -> None:
    """Print a run's figures, and append them to docs/benchmarks.md unless ``print_only``."""
    if print_only:
        print("\n".join(lines))
    else:
        append_section(title, lines)


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 in a daemon thread until the block ends; yields its
    base URL. The socket is bound first and handed over, so no other process can take the port."""
    # asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket names IPPROTO_TCP;
    # with the default proto 0 every answer would wait for the client's delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        give_up = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > give_up:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()
