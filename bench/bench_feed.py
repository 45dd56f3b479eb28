"""Feed page latency against the framework's floor (a static file from the same app).

Loads the bundled February 2026 month into a fresh SQLite file, then measures, in one run:
- in process (the ASGI app called directly, no sockets): server time only;
- over HTTP on 127.0.0.1 through uvicorn, one keep-alive client, sequential requests.
The day page for 2026-02-10 has 58 entries, so it renders the full 50 cards.

Usage: python -m bench.bench_feed [--requests N] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import append_section, serve_in_thread, summary_ms
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily
from dailypapers.web.app import create_app

FEED = "/papers/date/2026-02-10"
TARGETS = {
    "feed page, 50 cards": FEED,
    "static file (floor)": "/static/style.css",
    "API daily_papers, 50 items": "/api/daily_papers?date=2026-02-10",
}
TARGET_P50_MS = 15.0


def _prepare(folder: Path) -> Settings:
    settings = Settings(data_dir=folder, today=dt.date(2026, 2, 27), feed_page_size=50)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    load_hf_daily(make_session_factory(engine), settings, DEMO_DAILY_PAPERS)
    engine.dispose()
    return settings


def _measure(get: Callable[[str], int], path: str, requests: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        assert get(path) == 200, path
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        status = get(path)
        samples.append(time.perf_counter() - started)
        assert status == 200, path
    return samples


def _in_process(settings: Settings, requests: int) -> dict[str, list[float]]:
    app = create_app(settings)
    results: dict[str, list[float]] = {}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, path in TARGETS.items():
                for _ in range(30):
                    (await client.get(path)).raise_for_status()
                samples = []
                for _ in range(requests):
                    started = time.perf_counter()
                    response = await client.get(path)
                    samples.append(time.perf_counter() - started)
                    response.raise_for_status()
                results[name] = samples

    asyncio.run(run())
    return results


def _over_http(settings: Settings, requests: int) -> dict[str, list[float]]:
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        return {
            name: _measure(lambda p: client.get(p).status_code, path, requests, warmup=30)
            for name, path in TARGETS.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = _prepare(Path(folder))
        in_process = _in_process(settings, args.requests)
        over_http = _over_http(settings, args.requests)

    lines = [
        f"{args.requests} sequential requests each after 30 warm-up; bundled month in SQLite.",
        "",
        "| request | where | p50 ms | p95 ms | p99 ms | p50 / static p50 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, results in (("in process (server only)", in_process), ("HTTP, loopback", over_http)):
        floor = summary_ms(results["static file (floor)"])["p50"]
        for name, samples in results.items():
            stats = summary_ms(samples)
            lines.append(
                f"| {name} | {label} | {stats['p50']:.2f} | {stats['p95']:.2f} | "
                f"{stats['p99']:.2f} | {stats['p50'] / floor:.1f}× |"
            )
    feed_p50 = summary_ms(in_process["feed page, 50 cards"])["p50"]
    verdict = "meets" if feed_p50 <= TARGET_P50_MS else "MISSES"
    target = f"{verdict} the ≤ {TARGET_P50_MS:g} ms target"
    lines += ["", f"Feed page p50 on the server: {feed_p50:.2f} ms ({target})."]
    if args.no_append:
        print("\n".join(lines))
    else:
        append_section("Feed page vs. static file (bench/bench_feed.py)", lines)


if __name__ == "__main__":
    main()
