"""``/for-you`` for a reader with 500 saved papers on the 75k store, against the anonymous day
page in the same run (the issue's bar: p50 <= 50 ms).

The store is bench/bench_library.py's (a temporary copy of the search store, or an embedded
PostgreSQL), with the cached vectors imported into its ``embeddings`` table. Requests go over
HTTP on 127.0.0.1 to uvicorn in this process, in interleaved rounds. "warm" is the usual
request (the reader's model is in the in-process cache); "cold" clears that cache before each
request, so it is the first page after a save, an upvote or a dismissal (training included).

    nice python -m bench.bench_for_you_speed [--backend sqlite|postgresql] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.bench_library import BASELINE, PASSWORD, _sign_in, _store
from bench.common import TimedPage, measure_pages, publish, ratio_table, serve_in_thread
from bench.search_store import import_vectors
from dailypapers import accounts
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.foryou.service import reset_caches
from dailypapers.library import marks, saves
from dailypapers.models import DailyEntry, Embedding, Paper
from dailypapers.web.app import create_app

DAY = dt.date(2026, 2, 10)
SAVED = 500
TARGET_MS = 50.0


def _make_reader(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings)
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(18)
    with session_scope(make_session_factory(engine), write=True) as session:
        month = set(session.scalars(select(DailyEntry.paper_id)))
        others = [p for p in session.scalars(select(Paper.id)) if p not in month]
        library = rng.sample(others, SAVED)
        user = accounts.create_user(
            session,
            settings,
            username="bench-reader",
            email="bench-reader@example.org",
            password=PASSWORD,
            now=now,
        )
        session.flush()
        saves.save_many(session, user, library, now)
        day = list(session.scalars(select(DailyEntry.paper_id).where(DailyEntry.feed_date == DAY)))
        for paper_id in day[:5]:
            marks.set_mark(session, user, paper_id, "dismissed", on=True, now=now)
        vectors = session.scalar(select(func.count()).select_from(Embedding)) or 0
    engine.dispose()
    return {"saved": len(library), "day papers": len(day), "vectors": vectors}


def _drop_models() -> None:
    """A cold request: the reader's trained model is gone, as after a profile change."""
    reset_caches(models_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40, help="per page and round")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-for-you-") as folder,
        _store(args.backend, Path(folder)) as settings,
    ):
        import_vectors(settings)
        held = _make_reader(settings)
        with (
            serve_in_thread(create_app(settings)) as base,
            httpx.Client(base_url=base, timeout=60) as anonymous,
            httpx.Client(base_url=base, timeout=60) as reader,
        ):
            _sign_in(reader)
            page = reader.get(f"/for-you/date/{DAY}").text
            assert "ranked for you" in page, "the reader's For you page is not ranked"
            cold = max(3, args.requests // 8)
            pages = {
                BASELINE: TimedPage(anonymous, f"/papers/date/{DAY}"),
                "/for-you (day), warm": TimedPage(reader, f"/for-you/date/{DAY}"),
                "/for-you/week, warm": TimedPage(reader, "/for-you/week/2026-W07"),
                "/for-you/month, warm": TimedPage(reader, "/for-you/month/2026-02"),
                "/api/me/for-you (day), warm": TimedPage(reader, f"/api/me/for-you?date={DAY}"),
                "/for-you (day), cold (model trained)": TimedPage(
                    reader, f"/for-you/date/{DAY}", _drop_models, cold
                ),
            }
            figures = measure_pages(pages, args.rounds, args.requests, warmup=5)
    lines = [
        f"Backend: {args.backend}. Store: the 75k corpus + the February 2026 month, "
        f"{held['vectors']:,} papers with vectors. The reader: {held['saved']} saved papers "
        f"(a seeded sample), 5 dismissed on {DAY} ({held['day papers']} papers). HTTP on "
        f"127.0.0.1, {args.rounds} interleaved rounds × {args.requests} requests "
        f"(cold: {max(3, args.requests // 8)}).",
        "",
        *ratio_table(figures, BASELINE),
    ]
    warm = figures["/for-you (day), warm"][0]["p50"]
    lines += [
        "",
        f"Target /for-you p50 ≤ {TARGET_MS:.0f} ms: {'met' if warm <= TARGET_MS else 'MISSED'}.",
    ]
    publish(
        f"For you speed, {SAVED} saves, {args.backend} (bench/bench_for_you_speed.py)",
        lines,
        args.no_append,
    )


if __name__ == "__main__":
    main()
