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

from bench.common import BENCHMARKS_MD
from bench.search_store import build_store
from bench.vector_cache import VectorCache
from dailypapers.db import make_engine
from dailypapers.foryou import ranker
from dailypapers.models import Paper
from dailypapers.search.embed import DIM, MODEL_NAME, content_hash, paper_text

K = 10


@dataclass
class Corpus:
    texts: list[str]
    authors: list[list[str]]
    published: np.ndarray  # days since epoch
    trending: np.ndarray
    vectors: np.ndarray  # zeros where the cache has none
    has_vector: np.ndarray


def load_corpus(vectors_only: bool) -> Corpus:
    settings = build_store()
    engine = make_engine(settings)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Paper.title, Paper.abstract, Paper.author_names, Paper.published_at,
                Paper.trending_score,
            ).where(Paper.published_at.is_not(None))
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


def rrf(*score_lists: np.ndarray, k: int = 60) -> np.ndarray:
    total = np.zeros(len(score_lists[0]))
    for scores in score_lists:
        ranks = np.empty(len(scores))
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
        total += 1.0 / (k + ranks + 1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors-only", action="store_true")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--min-papers", type=int, default=15)
    parser.add_argument("--cutoff", default="2026-03-01")
    parser.add_argument("--append", action="store_true", help="append to docs/benchmarks.md")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-c", default="0.1", help="comma-separated C values")
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = load_corpus(args.vectors_only)
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
    words = ranker.word_features(corpus.texts)
    combined = ranker.combined_features(words, corpus.vectors)
    print(f"features in {time.perf_counter() - t:.0f} s")
    cand_vectors = corpus.vectors[candidates]
    cand_combined = combined[candidates]
    cand_words = words[candidates]
    rng = np.random.default_rng(18)

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
        others = np.setdiff1d(np.arange(n), profile)
        negatives = rng.choice(others, size=min(ranker.NEGATIVES, len(others)), replace=False)
        run("trending only", user, lambda: corpus.trending[candidates] + 1e-6 * candidates)
        svm_scores = {}
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

                svm_scores[c] = run(f"arxiv-sanity-lite SVM tf-idf C={c}", user, baseline)

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

        def ours_words() -> np.ndarray:
            model = ranker.train(words[profile], words[negatives], pos_vectors)
            return model.linear(cand_words)

        run("ours: SVM hashed words, sampled negatives", user, ours_words)
        for c in (0.1, 1.0):
            run(
                f"ours: SVM hashed words, sampled negatives, C={c}",
                user,
                lambda c=c: ranker.train(words[profile], words[negatives], pos_vectors, c=c).linear(
                    cand_words
                ),
            )
        model_holder: list[ranker.UserModel] = []

        def ours_combined() -> np.ndarray:
            model = ranker.train(combined[profile], combined[negatives], pos_vectors)
            model_holder.append(model)
            return model.linear(cand_combined)

        run("ours: SVM words+embedding", user, ours_combined)
        model = model_holder[-1]
        for weight in (0.25, 0.5, 1.0):
            run(
                f"ours: words+embedding SVM + kNN fused (w={weight})",
                user,
                lambda w=weight: ranker.fused_scores(model, cand_combined, cand_vectors, w),
            )

        def ours_recency() -> np.ndarray:
            age = (cutoff_day - corpus.published[profile]).astype(np.float64)
            weights = 0.5 + 0.5 * np.exp(-age / 180.0)  # half weight for old papers at most
            m = ranker.train(
                combined[profile], combined[negatives], pos_vectors, positive_weights=weights
            )
            return ranker.fused_scores(m, cand_combined, cand_vectors)

        run("ours: fused, recency-weighted positives", user, ours_recency)
        if svm_scores:
            best_c = 0.1 if 0.1 in svm_scores else next(iter(svm_scores))
            run("rank fusion: SVM tf-idf + kNN (RRF)", user, lambda: rrf(svm_scores[best_c], knn))
        fused = ranker.fused_scores(model, cand_combined, cand_vectors)

        def follows() -> np.ndarray:
            by_them = np.array(
                [user.name in corpus.authors[i] for i in candidates], dtype=np.float64
            )
            return by_them * 1000 + fused

        run("follows the author (+ ours)", user, follows)
        if (number + 1) % 10 == 0:
            print(f"  {number + 1}/{len(users)} users, {time.perf_counter() - started:.0f} s")
            for name, values in results.items():
                recall, ndcg = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
                print(f"    {name}: recall@10 {recall:.3f} nDCG@10 {ndcg:.3f}", flush=True)

    subset = "papers with vectors only" if args.vectors_only else "the full store"
    lines = [
        f"\n### For you quality ({dt.date.today()}, bench/bench_for_you.py)\n",
        f"Corpus: {subset}, {n:,} papers ({int(corpus.has_vector.sum()):,} with vectors); "
        f"cutoff {args.cutoff}; {len(candidates):,} candidates; {len(users)} synthetic users "
        f"(authors with >= {args.min_papers} papers, >= 5 before and >= 2 after the cutoff).\n",
        "| ranker | recall@10 | nDCG@10 | ms/user |",
        "|---|---:|---:|---:|",
    ]
    for name, values in results.items():
        recall = float(np.mean([v[0] for v in values]))
        ndcg = float(np.mean([v[1] for v in values]))
        ms = seconds[name] / len(values) * 1000
        lines.append(f"| {name} | {recall:.3f} | {ndcg:.3f} | {ms:.0f} |")
    lines.append(f"\n(run took {time.perf_counter() - started:.0f} s)\n")
    text = "\n".join(lines)
    print(text)
    print(json.dumps({name: len(v) for name, v in results.items()}))
    if args.append:
        with BENCHMARKS_MD.open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
