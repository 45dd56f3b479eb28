"""Shared helpers for benchmarks: percentiles, machine facts, appending to docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS_MD = Path(__file__).parent.parent / "docs" / "benchmarks.md"


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
