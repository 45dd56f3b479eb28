"""Search latency on the 75k corpus with every vector (issue #5 targets).

Hybrid search (query parsing, encoding the query, lexical and dense candidates, fusion, pins,
hidden-paper check) timed per query for short (≤ 4 words) and sentence-length queries of the
evaluation (bench/search_eval_queries.jsonl, report split); lexical-only search; and, in the
same run, the two baselines: a plain SQLite FTS5 OR-query over the query's words ranked by
bm25, and a numpy exact scan of all vectors (the query already encoded).

    python -m bench.bench_search [--queries N] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import select, text

from bench.common import append_section, summary_ms
from bench.search_store import build_store, import_vectors
from dailypapers.db import make_engine, make_session_factory
from dailypapers.models import Embedding
from dailypapers.search import hybrid
from dailypapers.search.embed import load_embedder

QUERIES = Path(__file__).parent / "search_eval_queries.jsonl"
MODEL_DIR = Path(__file__).parent / ".cache" / "model"
TARGETS = {"hybrid p50": 25.0, "hybrid p95": 60.0, "lexical p50": 10.0}


def _queries(limit: int) -> dict[str, list[str]]:
    rows = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["split"] == "report"]
    short = [r["query"] for r in rows if len(r["query"].split()) <= 4]
    sentence = [r["query"] for r in rows if len(r["query"].split()) > 4]
    rng = random.Random(5)
    rng.shuffle(short)
    rng.shuffle(sentence)
    return {"short": short[:limit], "sentence": sentence[:limit]}


def _timed(function: Callable[[str], object], queries: list[str]) -> dict[str, float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        function(query)
        samples.append(time.perf_counter() - started)
    return summary_ms(samples)


def _fts_or(query: str) -> str:
    words = re.findall(r"\w+", query)
    return " OR ".join(f'"{w}"' for w in words) or '""'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300, help="per length class")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    settings = build_store().model_copy(update={"model_dir": MODEL_DIR})
    stored, missing = import_vectors(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    queries = _queries(args.queries)
    embedder = load_embedder(MODEL_DIR)
    with factory() as session:
        vectors = session.execute(select(Embedding.paper_id, Embedding.vector)).all()
        matrix = np.frombuffer(b"".join(v for _, v in vectors), dtype="<f4").reshape(
            len(vectors), -1
        )
        ids = np.array([paper_id for paper_id, _ in vectors])
        count = len(vectors)
        # Warm up: the vector index loads, the model session initializes, caches fill.
        for query in queries["short"][:20] + queries["sentence"][:20]:
            hybrid.search(session, settings, query + " warm", limit=10, engine=engine)

        def hybrid_query(query: str) -> object:
            return hybrid.search(session, settings, query, limit=10, engine=engine)

        def lexical_query(query: str) -> object:
            return hybrid.search(session, settings, query, limit=10, semantic=False)

        def fts_or_query(query: str) -> object:
            return session.execute(
                text(
                    "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :q "
                    "ORDER BY bm25(papers_fts) LIMIT 10"
                ),
                {"q": _fts_or(query)},
            ).all()

        def exact_scan(query: str) -> object:
            scores = matrix @ encoded[query]
            top = np.argpartition(-scores, 10)[:10]
            return ids[top[np.argsort(-scores[top])]]

        encoded = {q: embedder.encode_query(q) for qs in queries.values() for q in qs}
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, function in (
            ("hybrid", hybrid_query),
            ("lexical only", lexical_query),
            ("baseline FTS5 OR-query", fts_or_query),
            ("baseline numpy exact scan (query encoded)", exact_scan),
        ):
            results[name] = {
                length: _timed(function, queries[length]) for length in ("short", "sentence")
            }
    engine.dispose()
    lines = [
        f"Store: 75k-paper corpus + the February 2026 month, {count:,} vectors "
        f"({stored:,} imported from the cache this run, {missing:,} papers without a vector); "
        f"{len(queries['short'])} short (≤ 4 words) and {len(queries['sentence'])} sentence "
        "queries from the evaluation's report split, one at a time, warm process.",
        "",
        "| search | queries | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for name, by_length in results.items():
        for length, figures in by_length.items():
            lines.append(
                f"| {name} | {length} | {figures['p50']:.1f} | {figures['p95']:.1f} | "
                f"{figures['p99']:.1f} |"
            )
    verdicts = []
    for length in ("short", "sentence"):
        h, lex = results["hybrid"][length], results["lexical only"][length]
        ok = (
            h["p50"] <= TARGETS["hybrid p50"]
            and h["p95"] <= TARGETS["hybrid p95"]
            and lex["p50"] <= TARGETS["lexical p50"]
        )
        ratio = h["p50"] / results["baseline FTS5 OR-query"][length]["p50"]
        verdicts.append(
            f"{length}: hybrid p50 {h['p50']:.1f} / p95 {h['p95']:.1f} ms, lexical p50 "
            f"{lex['p50']:.1f} ms — {'meets' if ok else 'MISSES'} the targets (≤ 25 / ≤ 60 / "
            f"≤ 10 ms); hybrid is {ratio:.2f}× "
            "the FTS5 OR-query's p50."
        )
    lines += ["", *verdicts]
    title = "Search latency, 75k papers (bench/bench_search.py)"
    if args.no_append:
        print("\n".join(lines))
    else:
        append_section(title, lines)


if __name__ == "__main__":
    main()
