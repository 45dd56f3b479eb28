"""Vector search at 1M: an HNSW graph (faiss, what ``VectorIndex`` ships) against exact scans.

Data: the real all-MiniLM-L6-v2 vectors of the corpus (``bench/vector_cache.py``, ~75k), each
copied with Gaussian noise up to ``--size`` vectors (1M): clustered like real embeddings, where
uniform random vectors would make any ANN look bad and any exact scan look typical. The noise is
chosen so a copy sits about as close to its source (cosine ~0.9) as a paper's nearest real
neighbour does (~0.7) — near-duplicates, but not identical ones.

Queries: real paper titles encoded by the model (what a search box sends), from the search
store; held-out vectors plus noise when the model or the store is missing.

Measured, one query at a time on one thread (a web request):
- baselines: the numpy float32 scan (matrix-vector product + argpartition) and ``ExactIndex``
  (faiss flat scan, float16 / float32), at the real size and at 1M;
- ``HnswIndex`` at 1M: build time, memory (RSS growth and serialized size), recall@10 against
  the exact top 10, p50/p95 latency for a sweep of efSearch, and with filters (``allowed``);
- faiss, hnswlib and usearch built with the same parameters on the first ``--compare-size``
  vectors (250k), to show why faiss; and loading / refreshing from an SQLite store.

Usage: python -m bench.bench_ann [--size N] [--queries N] [--compare-size N] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import insert

from bench.common import append_section, summary_ms
from bench.search_store import STORE_DIR
from bench.vector_cache import VectorCache
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine
from dailypapers.models import Embedding, Paper
from dailypapers.search.embed import DIM, MODEL_NAME, Embedder
from dailypapers.search.vectors import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    ExactIndex,
    HnswIndex,
    load_vectors,
    reset_vector_indexes,
    vector_index,
)

MODEL_DIR = Path(__file__).parent / ".cache" / "model"
K = 10
SEED = 20261125
TARGET_RECALL = 0.95


def real_vectors() -> np.ndarray:
    """Every cached vector, read the way ``load_vectors`` reads the embeddings table."""
    cache = VectorCache(MODEL_NAME, DIM)
    blobs = [row[0] for row in cache._db.execute("SELECT vector FROM vectors")]
    cache.close()
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), DIM).copy()


def title_queries(count: int, rng: np.random.Generator) -> np.ndarray | None:
    """``count`` random paper titles of the search store, encoded like a search query."""
    store = STORE_DIR / "dailypapers.sqlite3"
    if not (MODEL_DIR / "model.onnx").exists() or not store.exists():
        return None
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        titles = [row[0] for row in db.execute("SELECT title FROM papers ORDER BY id")]
    chosen = [titles[i] for i in rng.choice(len(titles), size=count, replace=False)]
    embedder = Embedder(MODEL_DIR, threads=1)
    return np.stack([embedder.encode_query(title) for title in chosen])


def unit(rows: np.ndarray) -> np.ndarray:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def clustered(base: np.ndarray, size: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``base`` itself, then noisy copies of its rows in turn until ``size`` rows (float32)."""
    if size <= len(base):
        return base[:size].copy()
    data = np.empty((size, base.shape[1]), dtype=np.float32)
    data[: len(base)] = base
    for start in range(len(base), size, 100_000):
        stop = min(size, start + 100_000)
        source = base[np.arange(start, stop) % len(base)]
        noise = rng.standard_normal(source.shape, dtype=np.float32) * sigma
        data[start:stop] = unit(source + noise)
    return data


def exact_top(data: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Row numbers of the exact top ``k`` per query (float32 BLAS, in blocks)."""
    found = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 100):
        scores = queries[start : start + 100] @ data.T
        head = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        found[start : start + 100] = head
    return found


def recall(found: Sequence[np.ndarray], truth: np.ndarray) -> float:
    hits = [
        len(set(got[:K].tolist()) & set(want.tolist()))
        for got, want in zip(found, truth, strict=True)
    ]
    return sum(hits) / (K * len(truth))


def timed(fn: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[list[Any], list[float]]:
    fn(queries[0])  # warm caches and lazy imports
    results, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(fn(query))
        seconds.append(time.perf_counter() - started)
    return results, seconds


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def latency_cells(seconds: Sequence[float]) -> list[str]:
    summary = summary_ms(seconds)
    return [f"{summary['p50']:.2f}", f"{summary['p95']:.2f}"]


def exact_rows(label: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> list[str]:
    """numpy float32 scan and ExactIndex (float16, float32) over ``data`` (ids = row numbers)."""
    lines = []

    def numpy_scan(query: np.ndarray) -> np.ndarray:
        scores = data @ query
        head = np.argpartition(-scores, K - 1)[:K]
        return head[np.argsort(-scores[head])]

    found, seconds = timed(numpy_scan, queries)
    lines.append(
        row([label, "numpy float32 scan", f"{recall(found, truth):.3f}", *latency_cells(seconds)])
    )
    ids = np.arange(len(data), dtype=np.int64)
    for dtype in ("float16", "float32"):
        index = ExactIndex(ids, data, dtype=dtype)
        found, seconds = timed(lambda q, index=index: index.search(q, K)[0], queries)
        lines.append(
            row(
                [
                    label,
                    f"ExactIndex {dtype}",
                    f"{recall(found, truth):.3f}",
                    *latency_cells(seconds),
                ]
            )
        )
        del index
    return lines


def load_rows(real: np.ndarray) -> list[str]:
    """The real vectors written to a fresh store's ``embeddings`` table, then read back the way
    a web process does on its first search (``load_vectors``; ``vector_index``), and refreshed
    after 500 new vectors land."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), vector_index="exact", vector_refresh_seconds=0)
        engine = make_engine(settings)
        migrate.upgrade(engine)
        count = len(real) - 500
        stamp = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        with engine.begin() as connection:
            connection.execute(
                insert(Paper),
                [
                    {"id": i + 1, "arxiv_id": f"x{i}", "title": "t", "content_hash": "h"}
                    for i in range(len(real))
                ],
            )
            connection.execute(
                insert(Embedding),
                [
                    {
                        "paper_id": i + 1,
                        "model": MODEL_NAME,
                        "dim": DIM,
                        "content_hash": "h",
                        "vector": real[i].tobytes(),
                        # Stamped 20 per second, as the embedding worker writes them.
                        "updated_at": stamp + dt.timedelta(seconds=i / 20),
                    }
                    for i in range(count)
                ],
            )
        load_s = []
        for _ in range(3):
            with engine.connect() as connection:
                started = time.perf_counter()
                rows = load_vectors(connection)
                load_s.append(time.perf_counter() - started)
        assert len(rows) == count
        started = time.perf_counter()
        index = vector_index(settings, engine)
        first_s = time.perf_counter() - started
        with engine.begin() as connection:
            connection.execute(
                insert(Embedding),
                [
                    {
                        "paper_id": i + 1,
                        "model": MODEL_NAME,
                        "dim": DIM,
                        "content_hash": "h",
                        "vector": real[i].tobytes(),
                        "updated_at": stamp + dt.timedelta(days=1, seconds=i / 20),
                    }
                    for i in range(count, len(real))
                ],
            )
        started = time.perf_counter()
        index = vector_index(settings, engine)
        refresh_s = time.perf_counter() - started
        assert index is not None
        assert len(index) == len(real)
        started = time.perf_counter()
        unchanged = vector_index(settings, engine)
        check_s = time.perf_counter() - started
        assert unchanged is index
        reset_vector_indexes()
        engine.dispose()
    return [
        f"Loading from the `embeddings` table of an SQLite store ({count:,} vectors): "
        f"`load_vectors` (one query, one `np.frombuffer`) {statistics.median(load_s):.2f} s; "
        f"first `vector_index()` call (load + float16 ExactIndex) {first_s:.2f} s; the call "
        f"that folds in 500 new vectors {refresh_s * 1000:.0f} ms; a call that finds nothing "
        f"new (count + max(updated_at)) {check_s * 1000:.1f} ms.",
        "",
    ]


def background_note() -> str:
    """Say whether another heavy process shared the machine (the corpus embedding job)."""
    busy = []
    mine = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
    for process in psutil.process_iter(["pid", "cmdline", "nice"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.pid not in mine and "python" in command and "bench." in command:
            busy.append(f"`{command.split('-m ')[-1][:60]}` (nice {process.info['nice']})")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    if not busy:
        return f"No other benchmark or embedding job was running (load average {load} at start)."
    return (
        f"Other jobs shared the 2 cores during this run: {'; '.join(busy)}; load average "
        f"{load} at start, so latencies and build times are pessimistic."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="vectors in the big index")
    parser.add_argument("--queries", type=int, default=1000, help="queries timed per setting")
    parser.add_argument("--exact-queries", type=int, default=200, help="queries per exact scan")
    parser.add_argument("--sigma", type=float, default=0.025, help="noise per dimension")
    parser.add_argument("--ef", default="16,24,32,48,64,96,128", help="efSearch values")
    parser.add_argument("--m", type=int, default=HNSW_M)
    parser.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument(
        "--compare-size",
        type=int,
        default=250_000,
        help="vectors on which faiss, hnswlib and usearch are compared (0: skip)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build threads")
    parser.add_argument("--no-append", action="store_true", help="print, do not append")
    args = parser.parse_args()
    started_all = time.perf_counter()
    rng = np.random.default_rng(SEED)
    lines = [background_note(), ""]

    started = time.perf_counter()
    real = real_vectors()
    read_s = time.perf_counter() - started
    lines += load_rows(real)
    print("\n".join(lines), flush=True)
    queries = title_queries(args.queries, rng)
    query_kind = "real paper titles encoded by the model"
    if queries is None:
        held = rng.choice(len(real), size=args.queries, replace=False)
        queries = unit(
            real[held] + rng.standard_normal((args.queries, DIM), dtype=np.float32) * 0.03
        )
        query_kind = "held-out real vectors plus noise"
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    sample = real[rng.choice(len(real), size=min(2000, len(real)), replace=False)]
    nearest = sample @ real.T
    nearest[nearest > 0.9999] = -1.0  # the row itself
    data = clustered(real, args.size, args.sigma, rng)
    copies = data[len(real) : len(real) + 5000]
    sources = real[np.arange(len(real), len(real) + len(copies)) % len(real)]
    lines += [
        f"{len(real):,} real {MODEL_NAME} vectors (the bench cache, read in {read_s:.2f} s), "
        f"copied with N(0, {args.sigma}²) noise per dimension to {args.size:,}: a copy's cosine "
        f"to its source is {float(np.median(np.sum(copies * sources, axis=1))):.2f} (median), "
        f"a real paper's to its nearest other paper {float(np.median(nearest.max(axis=1))):.2f}. "
        f"Queries: {len(queries):,} {query_kind} ({args.exact_queries} for the exact scans). "
        f"k = {K}, one query at a time on one thread; recall@10 is against the exact float32 "
        "top 10.",
        "",
        "| vectors | method | recall@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    exact_queries = queries[: args.exact_queries]
    real_truth = exact_top(real, exact_queries)
    lines += exact_rows(f"{len(real):,} (real)", real, exact_queries, real_truth)
    truth = exact_top(data, queries)
    lines += exact_rows(f"{args.size:,}", data, exact_queries, truth[: args.exact_queries])
    print("\n".join(lines[-8:]), flush=True)

    lines += graph_rows(data, queries, truth, args, rng)
    if args.compare_size:
        subset = data[: args.compare_size]
        lines += compare_rows(subset, queries, exact_top(subset, queries), args)
    total = time.perf_counter() - started_all
    lines += ["", f"Whole run {total / 60:.1f} min."]
    title = f"Vector search: HNSW (faiss) vs exact scan at {args.size:,} vectors"
    if args.no_append:
        print(f"### {title}\n")
        print("\n".join(lines))
    else:
        append_section(title, lines)


def graph_rows(
    data: np.ndarray, queries: np.ndarray, truth: np.ndarray, args: Any, rng: np.random.Generator
) -> list[str]:
    """What ships: HnswIndex built over ``data``, an efSearch sweep, then filters."""
    import faiss

    ids = np.arange(len(data), dtype=np.int64)
    before = rss_mb()
    started = time.perf_counter()
    graph = HnswIndex(
        ids,
        data,
        dtype=args.dtype,
        m=args.m,
        ef_construction=args.ef_construction,
        threads=args.threads,
    )
    build_s = time.perf_counter() - started
    grown = rss_mb() - before
    size_mb = len(faiss.serialize_index(graph._graph)) / 2**20
    lines = [
        "",
        f"HnswIndex (faiss HNSW, {args.dtype} codes, M={args.m}, efConstruction="
        f"{args.ef_construction}) over {len(data):,} vectors: built in {build_s:.0f} s on "
        f"{args.threads} threads; RSS grew {grown:,.0f} MB; serialized {size_mb:,.0f} MB "
        f"(the float32 input alone is {data.nbytes / 2**20:,.0f} MB).",
        "",
        "| efSearch | recall@10 | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    enough = []
    for ef in (int(value) for value in args.ef.split(",")):
        graph.ef_search = ef
        found, seconds = timed(lambda q, graph=graph: graph.search(q, K)[0], queries)
        reached = recall(found, truth)
        lines.append(row([ef, f"{reached:.3f}", *latency_cells(seconds)]))
        print(lines[-1], flush=True)
        if reached >= TARGET_RECALL:
            enough.append(ef)
    graph.ef_search = min(enough) if enough else ef
    lines += [
        "",
        f"Smallest efSearch with recall@10 ≥ {TARGET_RECALL}: "
        f"{min(enough) if enough else 'none in the sweep'}.",
    ]
    lines += filtered_rows(graph, data, queries[: args.exact_queries], rng)
    return lines


def filtered_rows(
    graph: HnswIndex, data: np.ndarray, queries: np.ndarray, rng: np.random.Generator
) -> list[str]:
    """``allowed`` filters of several sizes: recall against the exact filtered top 10."""
    lines = [
        "",
        f"Filtered (`allowed` = a random share of the papers; efSearch {graph.ef_search}, widened "
        "by the filter; under 2 % or 10,000 permitted rows they are scored exactly):",
        "",
        "| permitted | recall@10 | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for share in (0.5, 0.1, 0.03, 0.01, 0.001):
        allowed = np.sort(rng.choice(len(data), size=max(K, int(share * len(data))), replace=False))
        subset = data[allowed]
        truth = allowed[exact_top(subset, queries)]
        found, seconds = timed(lambda q, allowed=allowed: graph.search(q, K, allowed)[0], queries)
        lines.append(row([f"{share:.1%}", f"{recall(found, truth):.3f}", *latency_cells(seconds)]))
        print(lines[-1], flush=True)
    return lines


Built = tuple[Callable[[int], None], Callable[[np.ndarray], Any], Callable[[Path], None]]


def build_other(library: str, storage: str, data: np.ndarray, ids: np.ndarray, args: Any) -> Built:
    """A built index of ``library``: (set efSearch, search one query → row numbers, save)."""
    if library == "faiss":
        import faiss

        graph = HnswIndex(
            ids,
            data,
            dtype="float16" if storage == "float16" else "float32",
            m=args.m,
            ef_construction=args.ef_construction,
            threads=args.threads,
        )

        def set_graph_ef(ef: int) -> None:
            graph.ef_search = ef

        return (
            set_graph_ef,
            lambda q: graph.search(q, K)[0],
            lambda path: faiss.write_index(graph._graph, str(path)),
        )
    if library == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=data.shape[1])
        index.init_index(max_elements=len(data), M=args.m, ef_construction=args.ef_construction)
        index.add_items(data, ids, num_threads=args.threads)
        return (
            index.set_ef,
            lambda q: index.knn_query(q, k=K, num_threads=1)[0][0],
            lambda path: index.save_index(str(path)),
        )
    from usearch.index import Index

    uindex = Index(
        ndim=data.shape[1],
        metric="ip",
        dtype="f16",
        connectivity=args.m,
        expansion_add=args.ef_construction,
    )
    uindex.add(ids, data, threads=args.threads)

    def set_expansion(ef: int) -> None:
        uindex.expansion_search = ef

    return (
        set_expansion,
        lambda q: uindex.search(q, K, threads=1).keys,
        lambda path: uindex.save(str(path)),
    )


def compare_rows(data: np.ndarray, queries: np.ndarray, truth: np.ndarray, args: Any) -> list[str]:
    """faiss, hnswlib and usearch with the same M / efConstruction, vectors and queries."""
    lines = [
        "",
        f"Libraries compared on the first {len(data):,} of these vectors (M / connectivity "
        f"{args.m}, efConstruction / expansion_add {args.ef_construction}, {args.threads} build "
        "threads; size = the saved index file):",
        "",
        "| library | storage | build s | size MB | efSearch | recall@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ids = np.arange(len(data), dtype=np.int64)
    for library, storage in (
        ("faiss", "float16"),
        ("faiss", "float32"),
        ("hnswlib", "float32"),
        ("usearch", "float16"),
    ):
        started = time.perf_counter()
        try:
            set_ef, search, save = build_other(library, storage, data, ids, args)
        except ImportError:
            lines.append(row([library, storage, "not installed (`pip install hnswlib usearch`)"]))
            continue
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            save(Path(folder) / "index")
            size_mb = (Path(folder) / "index").stat().st_size / 2**20
        for ef in (int(value) for value in args.ef.split(",")):
            set_ef(ef)
            found, seconds = timed(search, queries)
            cells = [library, storage, f"{build_s:.0f}", f"{size_mb:,.0f}", ef]
            lines.append(row([*cells, f"{recall(found, truth):.3f}", *latency_cells(seconds)]))
            print(lines[-1], flush=True)
        del set_ef, search, save
        gc.collect()
    return lines


if __name__ == "__main__":
    main()
