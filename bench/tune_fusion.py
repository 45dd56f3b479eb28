"""Sweep the fusion's weights on the evaluation's tune split (the report split stays unseen).

    python -m bench.tune_fusion [--quick]

Three weight sets are chosen, each on the queries it serves (hybrid.weights_for): keywords
(at most hybrid.SENTENCE_WORDS words: the paraphrase and name queries), sentences (the
summary queries) and words-only search (no model: every set). Prints MRR@10 per query set
for lexical only, vector only and each setting, best first; the chosen constants live in
dailypapers/search/hybrid.py.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

from bench.search_eval import (
    EvalContext,
    Query,
    Searcher,
    evaluate,
    fuse_searcher,
    grouped,
    lexical_only,
    load_queries,
    vector_only,
)
from dailypapers.search import hybrid

RANK_DECAYS = (4.0, 8.0, 16.0)
DENSE_WEIGHTS = (1.0, 2.0, 4.0, 5.0, 6.0)
COVERAGE_WEIGHTS = (0.0, 2.0, 4.0, 5.0, 6.0, 8.0)
MIN_DENSE_ONLY = (0.25, 0.4)
SENTENCE_RANK_DECAYS = (2.0, 4.0)
SENTENCE_DENSE_WEIGHTS = (2.0, 4.0, 6.0)
SENTENCE_COVERAGE_WEIGHTS = (0.0, 1.0, 2.0, 4.0)
WORDS_ONLY_RANK_DECAYS = (2.0, 4.0, 8.0, 16.0)
WORDS_ONLY_COVERAGE_WEIGHTS = (0.0, 1.0, 2.0, 4.0, 8.0)


def _report(ctx: EvalContext, systems: dict[str, Searcher], queries: Sequence[Query]) -> None:
    """Each system's MRR@10 per query set, the best total first."""
    scores = grouped(evaluate(ctx, systems, queries, progress=False))
    sets = list(dict.fromkeys(query_set for query_set, _, _ in scores))
    rows = {
        name: [scores[(query_set, "tune", name)].mrr_at_10 for query_set in sets]
        for name in systems
    }
    print(f"{'':60s}" + "".join(f"{query_set:>12s}" for query_set in sets))
    for name, mrr in sorted(rows.items(), key=lambda item: -sum(item[1])):
        print(f"{name:60s}" + "".join(f"{value:12.4f}" for value in mrr))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the keyword sweep only")
    args = parser.parse_args()
    ctx = EvalContext.open()
    base = {"lexical": lexical_only(ctx), "vector": vector_only(ctx)}

    tune = load_queries(split="tune")
    keywords = [q for q in tune if len(q.query.split()) <= hybrid.SENTENCE_WORDS]
    systems = dict(base)
    for decay, dense, cover, floor in itertools.product(
        RANK_DECAYS, DENSE_WEIGHTS, COVERAGE_WEIGHTS, MIN_DENSE_ONLY
    ):
        systems[f"keywords decay={decay} dense={dense} coverage={cover} floor={floor}"] = (
            fuse_searcher(
                ctx,
                rank_decay=decay,
                dense_weight=dense,
                coverage_weight=cover,
                min_dense_only=floor,
            )
        )
    _report(ctx, systems, keywords)
    if args.quick:
        return

    keyword_set = set(keywords)
    sentences = [q for q in tune if q not in keyword_set]
    systems = dict(base)
    for decay, dense, cover in itertools.product(
        SENTENCE_RANK_DECAYS, SENTENCE_DENSE_WEIGHTS, SENTENCE_COVERAGE_WEIGHTS
    ):
        systems[f"sentences decay={decay} dense={dense} coverage={cover}"] = fuse_searcher(
            ctx, rank_decay=decay, dense_weight=dense, coverage_weight=cover
        )
    _report(ctx, systems, sentences)

    systems = {"lexical": base["lexical"]}
    for decay, cover in itertools.product(WORDS_ONLY_RANK_DECAYS, WORDS_ONLY_COVERAGE_WEIGHTS):
        systems[f"words only decay={decay} coverage={cover}"] = fuse_searcher(
            ctx, semantic=False, rank_decay=decay, coverage_weight=cover
        )
    _report(ctx, systems, tune)
    ctx.close()


if __name__ == "__main__":
    main()
