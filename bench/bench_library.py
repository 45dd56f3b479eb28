"""A reader with a big library (issue #17): the library page and a day page with seen marks,
against the same day page for an anonymous reader, in one run on the 75k store.

The store is the search benchmarks' (bench/search_store.py: the 75k corpus and the bundled
February 2026 month), copied into a temporary folder so the reader's rows never reach the cache;
with ``--backend postgresql`` the same data goes into an embedded PostgreSQL instead. The reader
has 5,000 saved papers (a seeded sample of the store, the day's cards among them), ten
collections, notes, and read / dismissed / opened marks on the day's papers, with both collapse
settings on, so every card of the day page carries its marks.

Requests go over HTTP on 127.0.0.1 through uvicorn, one keep-alive client per reader, one at a
time. The pages are measured in interleaved rounds (each round every page in turn), so a slow
spell of the shared machine lands on all of them alike; the table gives the p50 of every
sample and the range of the rounds' p50s.

    python -m bench.bench_library [--backend sqlite|postgresql] [--rounds N] [--requests N]
                                  [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.bench_votes import LIMITS
from bench.common import TimedPage, measure_pages, publish, ratio_table, serve_in_thread
from bench.search_store import SHARED_CORPUS, STORE_DIR, build_store
from dailypapers import accounts, migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.library import collections, marks, saves
from dailypapers.models import DailyEntry, Paper
from dailypapers.postgres_local import LocalPostgres
from dailypapers.web.app import create_app

DAY = dt.date(2026, 2, 10)
DAY_PAGE = f"/papers/date/{DAY.isoformat()}"
SAVED = 5_000
PASSWORD = "bench-library-password"
BASELINE = "day page, anonymous (baseline)"
TARGETS_MS = {"library": 30.0, "day page, seen marks": 20.0}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _settings(folder: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=folder,
        database_url=database_url,
        today=dt.date(2026, 2, 27),
        feed_page_size=50,
        digest_enabled=False,
        **LIMITS,  # type: ignore[arg-type]
    )


@contextmanager
def _store(backend: str, folder: Path) -> Iterator[Settings]:
    """A store holding the 75k corpus and the month, which this run may write to."""
    if backend == "sqlite":
        cached = build_store(STORE_DIR)
        engine = make_engine(cached)
        engine.dispose()  # the last connection's close checkpoints the WAL into the file
        shutil.copy(STORE_DIR / "dailypapers.sqlite3", folder / "dailypapers.sqlite3")
        settings = _settings(folder, None)
        engine = make_engine(settings)
        migrate.upgrade(engine)  # the cached store may predate this checkout's last migration
        engine.dispose()
        yield settings
        return
    server = LocalPostgres(folder / "pg" / "data")
    server.start({"shared_buffers": "1GB"})
    try:
        settings = _settings(folder, server.create_database("bench"))
        engine = make_engine(settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        load_snapshot(factory, SHARED_CORPUS, parallel=True)
        load_hf_daily(factory, settings, DEMO_DAILY_PAPERS)
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        engine.dispose()
        print(f"PostgreSQL store loaded in {time.perf_counter() - started:.0f} s", flush=True)
        yield settings
    finally:
        server.stop()


def _make_reader(settings: Settings) -> dict[str, int]:
    """The reader's account and library; returns what it holds."""
    engine = make_engine(settings)
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(17)
    with session_scope(make_session_factory(engine), write=True) as session:
        day_ids = list(
            session.scalars(
                select(DailyEntry.paper_id)
                .where(DailyEntry.feed_date == DAY)
                .order_by(DailyEntry.id)
            )
        )
        on_the_day = set(day_ids)
        others = [p for p in session.scalars(select(Paper.id)) if p not in on_the_day]
        library = day_ids[:12] + rng.sample(others, SAVED - 12)
        user = accounts.create_user(
            session,
            settings,
            username="bench-reader",
            email="bench-reader@example.org",
            password=PASSWORD,
            now=now,
        )
        user.collapse_seen = True
        user.collapse_dismissed = True
        user.previous_visit_at = now - dt.timedelta(days=30)
        session.flush()
        for start in range(0, len(library), 1_000):
            saves.save_many(session, user, library[start : start + 1_000], now)
        for index in range(10):
            shelf = collections.create_collection(
                session, user, f"Shelf {index}", is_public=index == 0, now=now
            )
            collections.add_to_collection(
                session, user, shelf.id, library[index * 300 : (index + 1) * 300], now
            )
        for paper_id in library[:300]:
            saves.set_note(session, user, paper_id, f"Read *this* for {paper_id}.", now)
        for paper_id in day_ids[12:24]:
            marks.set_mark(session, user, paper_id, "read", on=True, now=now)
        for paper_id in day_ids[24:30]:
            marks.set_mark(session, user, paper_id, "dismissed", on=True, now=now)
        for paper_id in day_ids[:20]:
            marks.mark_opened(session, user, paper_id, now)
        held = {"saved": len(library), "day papers": len(day_ids), "shelf": shelf.id}
    engine.dispose()
    return held


def _sign_in(client: httpx.Client) -> None:
    match = _CSRF.search(client.get("/signin").text)
    assert match, "no form token on /signin"
    answer = client.post(
        "/signin",
        data={"login": "bench-reader", "password": PASSWORD, "csrf_token": match[1]},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def _pages(anonymous: httpx.Client, reader: httpx.Client, shelf: int) -> dict[str, TimedPage]:
    return {
        "static file (floor)": TimedPage(anonymous, "/static/style.css"),
        BASELINE: TimedPage(anonymous, DAY_PAGE),
        "day page, seen marks": TimedPage(reader, DAY_PAGE),
        "library": TimedPage(reader, "/library"),
        "library, by upvotes": TimedPage(reader, "/library?sort=upvotes"),
        "library, search within": TimedPage(reader, "/library?q=language+models"),
        "collection page": TimedPage(reader, f"/collections/{shelf}"),
    }


def _check(reader: httpx.Client, anonymous: httpx.Client, held: dict[str, int]) -> None:
    """The pages show what the benchmark means them to (so the figures are of real work)."""
    assert f"{held['saved']} papers" in reader.get("/library").text, "library not 5,000 papers"
    day = reader.get(DAY_PAGE).text
    for mark in ('class="badge saved"', 'class="badge seen"', 'class="collapsed-card"'):
        assert mark in day, f"no {mark} on the reader's day page"
    assert 'class="badge saved"' not in anonymous.get(DAY_PAGE).text, "marks shown to anyone"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40, help="per page and round")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-library-") as folder,
        _store(args.backend, Path(folder)) as settings,
    ):
        held = _make_reader(settings)
        with (
            serve_in_thread(create_app(settings)) as base,
            httpx.Client(base_url=base, timeout=30) as anonymous,
            httpx.Client(base_url=base, timeout=30) as reader,
        ):
            _sign_in(reader)
            _check(reader, anonymous, held)
            pages = _pages(anonymous, reader, held["shelf"])
            figures = measure_pages(pages, args.rounds, args.requests)
    lines = [
        f"Backend: {args.backend}. Store: the 75k corpus + the February 2026 month. The reader: "
        f"{held['saved']:,} saved papers, 10 collections of 300, 300 notes, read / dismissed / "
        f"opened marks on the {held['day papers']} papers of {DAY_PAGE} (50 cards), both collapse "
        f"settings on. HTTP on 127.0.0.1 (uvicorn in the benchmark's process), one keep-alive "
        f"client each, {args.rounds} interleaved rounds × {args.requests} requests per page.",
        "",
        *ratio_table(figures, BASELINE),
    ]
    verdicts = [
        f"{name} p50 ≤ {target:.0f} ms: {'met' if figures[name][0]['p50'] <= target else 'MISSED'}"
        for name, target in TARGETS_MS.items()
    ]
    lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    publish(
        f"Library pages, 5,000 saved papers, {args.backend} (bench/bench_library.py)",
        lines,
        args.no_append,
    )


if __name__ == "__main__":
    main()
