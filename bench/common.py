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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
