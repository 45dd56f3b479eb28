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


def import_vectors(settings: Settings, *, model: str = "all-MiniLM-L6-v2") -> tuple[int, int]:
    """Copy cached vectors into the store's ``embeddings`` table for every paper whose current
    text is in the cache (what ``index rebuild`` would compute). Returns (stored, missing)."""
    from bench.vector_cache import VectorCache
    from dailypapers.db import session_scope
    from dailypapers.models import Embedding
    from dailypapers.search.embed import DIM, content_hash, paper_text

    engine = make_engine(settings)
    factory = make_session_factory(engine)
    cache = VectorCache(model, DIM)
    with factory() as session:
        stored = {
            row[0]: row[1]
            for row in session.execute(
                select(Embedding.paper_id, Embedding.content_hash).where(Embedding.model == model)
            )
        }
        wanted = {
            paper_id: content_hash(paper_text(title, abstract), model)
            for paper_id, title, abstract in session.execute(
                select(Paper.id, Paper.title, Paper.abstract)
            )
        }
    todo = {paper_id: key for paper_id, key in wanted.items() if stored.get(paper_id) != key}
    found = cache.get_many(sorted(set(todo.values())))
    rows = [
        {
            "paper_id": paper_id,
            "model": model,
            "dim": DIM,
            "content_hash": key,
            "vector": found[key].astype("<f4").tobytes(),
        }
        for paper_id, key in todo.items()
        if key in found
    ]
    with session_scope(factory, write=True) as session:
        for start in range(0, len(rows), 2000):
            chunk = rows[start : start + 2000]
            session.execute(
                Embedding.__table__.delete().where(
                    Embedding.paper_id.in_([r["paper_id"] for r in chunk])
                )
            )
            session.execute(Embedding.__table__.insert(), chunk)
    cache.close()
    engine.dispose()
    missing = sum(1 for paper_id in wanted if stored.get(paper_id) != wanted[paper_id]) - len(rows)
    return len(rows), missing
