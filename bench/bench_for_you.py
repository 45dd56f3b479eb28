"""The "For you" quality bar: does our ranker find a prolific author's next papers better than
arxiv-sanity-lite's per-user SVM over tf-idf?

Offline, on the 75k store, time-split and not circular: a synthetic user is an author with at
least ``--min-papers`` papers in the corpus; their profile is their papers before ``--cutoff``,
the relevant set their papers after it, the candidates every paper after it. Rankers see the
title and abstract (and the stored vector) only, never the author field, except the "follows
the author" variant, which is told. recall@10 and nDCG@10 per user, averaged.

    nice python -m bench.bench_for_you [--vectors-only] [--users 200] [--append]

``--vectors-only`` restricts the corpus to the papers whose vectors the cache already holds
(bench/embed_corpus.py fills it in a fixed random order, so that is a random subset).
"""

# ruff: noqa: B023 - each closure is called at once, inside the iteration that made it
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC
from sqlalchemy import select

from bench.common import publish
from bench.search_store import build_store
from bench.vector_cache import VectorCache
from dailypapers.db import make_engine
from dailypapers.foryou import ranker
from dailypapers.models import Paper
from dailypapers.search.embed import DIM, MODEL_NAME, content_hash, paper_text

K = 10
SHIPPED = "ours (shipped: SVM over hashed tf-idf, dailypapers/foryou/ranker.py)"


@dataclass
class Corpus:
    texts: list[str]
    authors: list[list[str]]
    published: np.ndarray  # days since epoch
    trending: np.ndarray
    vectors: np.ndarray  # zeros where the cache has none
    has_vector: np.ndarray


def load_corpus(vectors_only: bool, until: dt.date | None = None) -> Corpus:
    settings = build_store()
    engine = make_engine(settings)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Paper.title, Paper.abstract, Paper.author_names, Paper.published_at,
                Paper.trending_score,
            ).where(
                Paper.published_at.is_not(None),
                Paper.published_at
                < dt.datetime.combine(until or dt.date(9999, 1, 1), dt.time(), dt.UTC),
            )
        ).all()  # fmt: skip
    engine.dispose()
    texts = [paper_text(title, abstract) for title, abstract, *_ in rows]
    cache = VectorCache(MODEL_NAME, DIM)
    keys = [content_hash(text) for text in texts]
    found = cache.get_many(keys)
    cache.close()
    keep = [i for i, key in enumerate(keys) if key in found or not vectors_only]
    vectors = np.zeros((len(keep), DIM), dtype=np.float32)
    has = np.zeros(len(keep), dtype=bool)
    for row, i in enumerate(keep):
        if keys[i] in found:
            vectors[row] = found[keys[i]]
            has[row] = True
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return Corpus(
        texts=[texts[i] for i in keep],
        authors=[list(rows[i][2] or []) for i in keep],
        published=np.array(
            [(rows[i][3].replace(tzinfo=dt.UTC) - epoch).days for i in keep], dtype=np.int64
        ),
        trending=np.array(
            [rows[i][4] if rows[i][4] is not None else -1e9 for i in keep], dtype=np.float64
        ),
        vectors=vectors,
        has_vector=has,
    )


@dataclass
class User:
    name: str
    profile: np.ndarray  # corpus rows before the cutoff
    relevant: set[int]  # candidate positions after it


def synthetic_users(
    corpus: Corpus, cutoff_day: int, candidates: np.ndarray, min_papers: int, count: int
) -> list[User]:
    by_author: dict[str, list[int]] = defaultdict(list)
    for i, names in enumerate(corpus.authors):
        for name in names:
            by_author[name].append(i)
    position = {int(row): p for p, row in enumerate(candidates)}
    users = []
    for name, papers in sorted(by_author.items()):
        if len(papers) < min_papers:
            continue
        before = [i for i in papers if corpus.published[i] < cutoff_day]
        after = {position[i] for i in papers if i in position}
        if len(before) >= 5 and len(after) >= 2:
            users.append(User(name, np.array(before), after))
    random.Random(18).shuffle(users)
    return users[:count]


def metrics(order: np.ndarray, relevant: set[int]) -> tuple[float, float]:
    top = [int(i) for i in order[:K]]
    hits = [1.0 if i in relevant else 0.0 for i in top]
    recall = sum(hits) / len(relevant)
    dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
    ideal = sum(1 / np.log2(r + 2) for r in range(min(len(relevant), K)))
    return recall, dcg / ideal


def top_order(scores: np.ndarray) -> np.ndarray:
    """Best K positions first (argpartition, then a sort of those K)."""
    k = min(K, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


def _z(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return np.asarray((values - values.mean()) / (spread if spread > 1e-9 else 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors-only", action="store_true")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--min-papers", type=int, default=15)
    parser.add_argument("--cutoff", default="2026-03-01")
    parser.add_argument(
        "--until", default=None, help="leave out papers from this date on (a validation split)"
    )
    parser.add_argument("--append", action="store_true", help="append to docs/benchmarks.md")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-c", default="0.1", help="comma-separated C values")
    args = parser.parse_args()
    started = time.perf_counter()
    until = dt.date.fromisoformat(args.until) if args.until else None
    corpus = load_corpus(args.vectors_only, until)
    n = len(corpus.texts)
    cutoff_day = (dt.date.fromisoformat(args.cutoff) - dt.date(1970, 1, 1)).days
    candidates = np.flatnonzero(corpus.published >= cutoff_day)
    users = synthetic_users(corpus, cutoff_day, candidates, args.min_papers, args.users)
    print(
        f"corpus {n:,} papers ({int(corpus.has_vector.sum()):,} with vectors), "
        f"{len(candidates):,} candidates after {args.cutoff}, {len(users)} users"
    )

    t = time.perf_counter()
    tfidf = TfidfVectorizer(  # arxiv-sanity-lite's compute.py settings
        input="content", encoding="utf-8", decode_error="replace", strip_accents="unicode",
        lowercase=True, analyzer="word", stop_words="english", token_pattern=ranker.TOKEN_PATTERN,
        ngram_range=(1, 2), max_features=20000, norm="l2", use_idf=True, smooth_idf=True,
        sublinear_tf=True, max_df=0.1, min_df=5,
    )  # fmt: skip
    x_tfidf = tfidf.fit_transform(corpus.texts).tocsr().astype(np.float32)
    # The shipped path, as the service runs it: one background (idf + negatives) from a random
    # sample of the store, every paper's features from it, one model per user.
    sample = np.random.default_rng(18).choice(n, size=min(ranker.IDF_SAMPLE, n), replace=False)
    background = ranker.Background.from_texts([corpus.texts[i] for i in sample])
    counts = ranker.word_counts(corpus.texts)
    features = ranker.tfidf(counts, background.idf)
    ones = np.ones(ranker.HASH_FEATURES, dtype=np.float32)
    no_idf = ranker.Background(ones, ranker.tfidf(counts[sample[: ranker.NEGATIVES]], ones))
    features_no_idf = ranker.tfidf(counts, no_idf.idf)
    print(f"features in {time.perf_counter() - t:.0f} s")
    cand_vectors = corpus.vectors[candidates]
    cand_features = features[candidates]
    cand_no_idf = features_no_idf[candidates]

    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)

    def run(name: str, user: User, score: Callable[[], np.ndarray]) -> np.ndarray:
        t = time.perf_counter()
        scores = score()
        seconds[name] += time.perf_counter() - t
        results[name].append(metrics(top_order(scores), user.relevant))
        return scores

    for number, user in enumerate(users):
        profile = user.profile
        pos_vectors = corpus.vectors[profile]
        run("trending only", user, lambda: corpus.trending[candidates] + 1e-6 * candidates)
        if not args.skip_baseline:
            for c in [float(v) for v in args.baseline_c.split(",")]:
                y = np.zeros(n)
                y[profile] = 1

                def baseline(c: float = c, y: np.ndarray = y) -> np.ndarray:
                    clf = LinearSVC(
                        class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=c
                    )
                    clf.fit(x_tfidf, y)
                    return np.asarray(clf.decision_function(x_tfidf[candidates]))

                run(f"arxiv-sanity-lite SVM tf-idf C={c}", user, baseline)

        run(
            "centroid (mean of embeddings)",
            user,
            lambda: cand_vectors @ pos_vectors.mean(axis=0),
        )
        knn = run(
            "kNN (mean of 3 best cosines)",
            user,
            lambda: ranker.knn_scores(pos_vectors, cand_vectors),
        )
        shipped = run(
            SHIPPED,
            user,
            lambda: ranker.train(features[profile], background, pos_vectors).scores(cand_features),
        )
        for c in (0.3, 3.0):
            run(
                f"ours, C={c} instead of {ranker.SVM_C}",
                user,
                lambda c=c: ranker.train(features[profile], background, pos_vectors, c=c).scores(
                    cand_features
                ),
            )
        run(
            "ours without idf (sublinear tf only, the previous word side)",
            user,
            lambda: ranker.train(features_no_idf[profile], no_idf, pos_vectors).scores(cand_no_idf),
        )
        run("ours + 0.5 x kNN (z-scored, not shipped)", user, lambda: _z(shipped) + 0.5 * _z(knn))

        def follows() -> np.ndarray:
            by_them = np.array(
                [user.name in corpus.authors[i] for i in candidates], dtype=np.float64
            )
            return by_them * 1000 + shipped

        run("follows the author (+ ours)", user, follows)
        if (number + 1) % 10 == 0:
            print(f"  {number + 1}/{len(users)} users, {time.perf_counter() - started:.0f} s")
            for name, values in results.items():
                recall, ndcg = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
                print(f"    {name}: recall@10 {recall:.3f} nDCG@10 {ndcg:.3f}", flush=True)

    subset = "papers with vectors only" if args.vectors_only else "the full store"
    if until is not None:
        subset += f" published before {until} (a validation split)"
    means = {
        name: (float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values])))
        for name, values in results.items()
    }
    lines = [
        f"Corpus: {subset}, {n:,} papers ({int(corpus.has_vector.sum()):,} with vectors); "
        f"cutoff {args.cutoff}; {len(candidates):,} candidates; {len(users)} synthetic users "
        f"(authors with >= {args.min_papers} papers, >= 5 before and >= 2 after the cutoff).",
        "",
        "| ranker | recall@10 | nDCG@10 | ms/user |",
        "|---|---:|---:|---:|",
    ]
    for name, (recall, ndcg) in means.items():
        ms = seconds[name] / len(results[name]) * 1000
        lines.append(f"| {name} | {recall:.3f} | {ndcg:.3f} | {ms:.0f} |")
    baselines = [name for name in means if name.startswith("arxiv-sanity-lite")]
    if baselines:
        best = max(baselines, key=lambda name: means[name])
        ours, theirs = means[SHIPPED], means[best]
        met = ours[0] > theirs[0] and ours[1] > theirs[1]
        lines += [
            "",
            f"Bar (ours beats the SVM on both metrics, same run): {'met' if met else 'NOT met'}: "
            f"recall@10 {ours[0]:.3f} vs {theirs[0]:.3f} ({ours[0] / max(theirs[0], 1e-9):.2f}x), "
            f"nDCG@10 {ours[1]:.3f} vs {theirs[1]:.3f} ({ours[1] / max(theirs[1], 1e-9):.2f}x).",
        ]
    lines.append(f"(run took {time.perf_counter() - started:.0f} s)")
    print(json.dumps({name: len(v) for name, v in results.items()}))
    publish("For you quality (bench/bench_for_you.py)", lines, not args.append)


if __name__ == "__main__":
    main()
