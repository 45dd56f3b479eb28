"""Bulk snapshot ingest: first load and full re-run, against decompress + json.loads (baseline).

Loads ``arxiv_cs_listings_2025-03_2026-07.jsonl.xz`` (74,728 papers; ../shared/data or a path
given) into a fresh SQLite store with its lexical index rows and queued embedding jobs, in a
child process so its peak RSS is measured alone. Then loads the same file again (every record
parsed and compared, nothing skipped wholesale) and reports rows changed. The baseline runs in
the same session: decompressing the file and ``json.loads`` on every line.

Usage: python -m bench.bench_ingest [PATH] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import lzma
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import append_section

DEFAULT = (
    Path(__file__).parent.parent.parent / "shared/data/arxiv_cs_listings_2025-03_2026-07.jsonl.xz"
)
TARGET_PAPERS_PER_SECOND = 5000
TARGET_RERUN_RATIO = 0.8
TARGET_RSS_MB = 500

CHILD = """
import json, resource, sys, time
from pathlib import Path
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_snapshot
settings = Settings(data_dir=Path(sys.argv[2]))
engine = make_engine(settings)
migrate.upgrade(engine)
factory = make_session_factory(engine)
started = time.perf_counter()
stats = load_snapshot(factory, Path(sys.argv[1]), parallel=True)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "new": stats.new, "updated": stats.updated,
    "unchanged": stats.unchanged, "failed": stats.failed,
    "rss_mb": max(resource.getrusage(who).ru_maxrss for who in
        (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024}))
"""


def baseline(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    lines = 0
    with lzma.open(path, "rb") as stream:
        for line in stream:
            json.loads(line)
            lines += 1
    return lines, time.perf_counter() - started


def load(path: Path, data_dir: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), data_dir],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    lines, base_seconds = baseline(args.path)
    base_rate = lines / base_seconds
    with tempfile.TemporaryDirectory() as folder:
        first = load(args.path, folder)
        rerun = load(args.path, folder)
    first_rate = (first["new"] + first["updated"] + first["unchanged"]) / first["seconds"]
    rerun_rate = (rerun["new"] + rerun["updated"] + rerun["unchanged"]) / rerun["seconds"]
    changed = rerun["new"] + rerun["updated"]
    ratio = rerun_rate / base_rate

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    lines_out = [
        f"File: `{args.path.name}`, {lines:,} lines. Fresh SQLite store with FTS5 rows and one "
        "queued embedding job per paper.",
        "",
        "| run | seconds | papers/s | vs baseline | peak RSS MB | rows changed |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline: xz + json.loads | {base_seconds:.1f} | {base_rate:,.0f} | 1.00× | – | – |",
        f"| first load | {first['seconds']:.1f} | {first_rate:,.0f} | "
        f"{first_rate / base_rate:.2f}× | {first['rss_mb']:.0f} | {first['new']:,.0f} new |",
        f"| re-run (parse + compare all) | {rerun['seconds']:.1f} | {rerun_rate:,.0f} | "
        f"{ratio:.2f}× | {rerun['rss_mb']:.0f} | {changed:,.0f} |",
        "",
        f"First load {first_rate:,.0f} papers/s: "
        f"{verdict(first_rate >= TARGET_PAPERS_PER_SECOND)} the ≥ {TARGET_PAPERS_PER_SECOND:,} "
        f"target. Peak RSS {first['rss_mb']:.0f} MB (the larger of the writing and the preparing "
        f"process): {verdict(first['rss_mb'] <= TARGET_RSS_MB)} the ≤ {TARGET_RSS_MB} MB target. "
        f"Re-run {ratio:.2f}× baseline with {changed:,.0f} rows changed: "
        f"{verdict(ratio >= TARGET_RERUN_RATIO and changed == 0)} the ≥ {TARGET_RERUN_RATIO}× "
        "target.",
    ]
    if args.no_append:
        print("\n".join(lines_out))
    else:
        append_section("Snapshot ingest, 75k papers (bench/bench_ingest.py)", lines_out)


if __name__ == "__main__":
    main()
