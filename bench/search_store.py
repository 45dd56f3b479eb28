"""The store the search benchmarks and the evaluation run on: the 75k arXiv corpus plus the
bundled February 2026 Hugging Face month (its papers are the evaluation's answers; the bundled
file carries no ``ai_summary``, so the evaluation's queries are never indexed)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from bench.vector_cache import CACHE_DIR
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.models import Paper

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_CORPUS = SHARED_DATA / "arxiv_cs_listings_2025-03_2026-07.jsonl.xz"
HF_MONTH_WITH_SUMMARIES = SHARED_DATA / "hf_daily_papers_2026-02.jsonl.gz"
STORE_DIR = CACHE_DIR / "search-store"


def store_settings(folder: Path = STORE_DIR, **overrides: object) -> Settings:
    return Settings(data_dir=folder, **overrides)  # type: ignore[arg-type]


def build_store(folder: Path = STORE_DIR, corpus: Path | None = SHARED_CORPUS) -> Settings:
    """Load the corpus and the month into ``folder`` unless it already holds them (the loads
    are idempotent, so an interrupted build simply runs again)."""
    settings = store_settings(folder)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        count = len(session.execute(select(Paper.id).limit(80_000)).all())
    if count < 70_000:
        started = time.perf_counter()
        if corpus is not None:
            load_snapshot(factory, corpus, parallel=True)
        load_hf_daily(factory, settings, DEMO_DAILY_PAPERS)
        print(f"store built in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return settings
