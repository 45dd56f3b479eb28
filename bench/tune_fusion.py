"""Sweep the fusion's weights on the evaluation's tune split (the report split stays unseen).

    python -m bench.tune_fusion

Prints MRR@10 per query set for lexical only, vector only, and each weight setting; the
chosen constants live in dailypapers/search/hybrid.py.
"""

from __future__ import annotations

import itertools

from bench.search_eval import (
    EvalContext,
    Searcher,
    evaluate,
    fuse_searcher,
    lexical_only,
    load_queries,
    table,
    vector_only,
)
from bench.search_store import build_store, import_vectors
from dailypapers.search import hybrid

SENTENCE_WEIGHTS = ((1.0, 4.0), (2.0, 2.0), (2.0, 4.0), (4.0, 4.0), (2.0, 6.0))
RANK_DECAYS = (1.0, 2.0, 4.0, 8.0)
DENSE_WEIGHTS = (0.5, 1.0)
MIN_DENSE_ONLY = (0.25, 0.4)


def _by_length(short: Searcher, sentence: Searcher) -> Searcher:
    def search(query: str) -> list[str]:
        return (sentence if len(query.split()) > hybrid.SENTENCE_WORDS else short)(query)

    return search


def main() -> None:
    import_vectors(build_store())
    ctx = EvalContext.open()
    queries = load_queries(split="tune")
    systems = {"lexical": lexical_only(ctx), "vector": vector_only(ctx)}
    for decay, weight, floor in itertools.product(RANK_DECAYS, DENSE_WEIGHTS, MIN_DENSE_ONLY):
        systems[f"fuse decay={decay} dense={weight} floor={floor}"] = fuse_searcher(
            ctx, rank_decay=decay, dense_weight=weight, min_dense_only=floor
        )
    # Sentences (more than hybrid.SENTENCE_WORDS words) get their own weights; shorter
    # queries keep the defaults.
    default = fuse_searcher(ctx, **hybrid.weights_for("short"))
    for decay, weight in SENTENCE_WEIGHTS:
        sentence = fuse_searcher(ctx, rank_decay=decay, dense_weight=weight)
        systems[f"sentences: decay={decay} dense={weight}"] = _by_length(default, sentence)
    print("\n".join(table(evaluate(ctx, systems, queries))))
    ctx.close()


if __name__ == "__main__":
    main()
