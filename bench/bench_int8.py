"""Is an int8 (dynamically quantized) MiniLM worth it? Speed and ranking quality against the
float32 model on a subset of the corpus, in the same run (issue #5).

Quality: every evaluation query (both splits) searched by vectors alone over the first
``--subset`` papers of the embedding order (the February month, whose papers are the answers,
then a random sample of the corpus), float32 vectors vs int8 vectors; plus the cosine between
the two models' vectors of the same text. Speed: papers/s encoding abstracts, and the latency
of encoding a short query.

    python -m bench.bench_int8 [--subset 10000] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import append_section, summary_ms
from bench.embed_corpus import MODEL_DIR, VARIANTS, paper_texts
from bench.search_store import build_store
from bench.vector_cache import VectorCache
from dailypapers.search.embed import DIM, Embedder, content_hash

QUERIES = Path(__file__).parent / "search_eval_queries.jsonl"


def _quantized(folder: Path) -> Path:
    target = folder / VARIANTS["int8"]
    if not target.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(folder / VARIANTS["fp32"], target, weight_type=QuantType.QInt8)
    return target


def _vectors(embedder: Embedder, name: str, texts: list[str]) -> np.ndarray:
    """The subset's vectors from the cache, encoding (and caching) what is missing."""
    cache = VectorCache(name, DIM)
    keys = [content_hash(text, name) for text in texts]
    found = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in found]
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        encoded = embedder.encode([texts[i] for i in chunk])
        cache.put_many((keys[i], vector) for i, vector in zip(chunk, encoded, strict=True))
        found.update({keys[i]: vector for i, vector in zip(chunk, encoded, strict=True)})
    cache.close()
    return np.stack([found[key] for key in keys])


def _mrr(
    embedder: Embedder, matrix: np.ndarray, answers: list[int], queries: list[str]
) -> tuple[float, float]:
    """MRR@10 and Recall@10 of vector-only search for each query's answer row."""
    vectors = embedder.encode(queries)
    scores = vectors @ matrix.T
    reciprocal, found = 0.0, 0
    for row, answer in enumerate(answers):
        top = np.argsort(-scores[row])[:10]
        hits = np.flatnonzero(top == answer)
        if hits.size:
            reciprocal += 1.0 / (hits[0] + 1)
            found += 1
    return reciprocal / len(answers), found / len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--speed-texts", type=int, default=600)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    settings = build_store()
    _quantized(MODEL_DIR)
    fp32 = Embedder(MODEL_DIR)
    int8 = Embedder(MODEL_DIR, model_file=VARIANTS["int8"])
    texts, arxiv_ids = paper_texts(settings, with_ids=True)
    texts, arxiv_ids = texts[: args.subset], arxiv_ids[: args.subset]

    speed: dict[str, float] = {}
    query_ms: dict[str, float] = {}
    sample = texts[1000 : 1000 + args.speed_texts]
    for name, embedder in (("fp32", fp32), ("int8", int8)):
        embedder.encode(sample[:32])
        started = time.perf_counter()
        embedder.encode(sample)
        speed[name] = len(sample) / (time.perf_counter() - started)
        samples = []
        for text in ("diffusion models for protein design", "robot grasping", "LLM agents"):
            for _ in range(30):
                started = time.perf_counter()
                embedder.encode_query(text)
                samples.append(time.perf_counter() - started)
        query_ms[name] = summary_ms(samples)["p50"]

    base = _vectors(fp32, fp32.model, texts)
    quant = _vectors(int8, f"{fp32.model}-int8", texts)
    agreement = (base * quant).sum(axis=1)
    row_of = {arxiv_id: row for row, arxiv_id in enumerate(arxiv_ids)}
    rows = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines()]
    lines = [
        f"Subset: the first {len(texts):,} papers of the embedding order (the February month, "
        "then a fixed random sample of the 75k corpus); every evaluation query (both splits) "
        "searched by vectors alone over it. Same run, same machine, one process.",
        "",
        f"Encoding abstracts: float32 {speed['fp32']:.1f} papers/s, int8 {speed['int8']:.1f} "
        f"papers/s ({speed['int8'] / speed['fp32']:.2f}×); a short query p50 "
        f"{query_ms['fp32']:.1f} ms vs {query_ms['int8']:.1f} ms. Cosine between the two "
        f"models' vectors of the same paper: median {np.median(agreement):.3f}, "
        f"5th percentile {np.percentile(agreement, 5):.3f}.",
        "",
        "| query set | queries | float32 MRR@10 | int8 MRR@10 | float32 R@10 | int8 R@10 |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    verdicts = []
    for query_set in ("summary", "paraphrase", "name"):
        chosen = [r for r in rows if r["set"] == query_set and r["answer"] in row_of]
        answers = [row_of[r["answer"]] for r in chosen]
        queries = [r["query"] for r in chosen]
        mrr32, r32 = _mrr(fp32, base, answers, queries)
        mrr8, r8 = _mrr(int8, quant, answers, queries)
        verdicts.append(mrr8 >= mrr32 - 0.01)
        lines.append(
            f"| {query_set} | {len(chosen)} | {mrr32:.3f} | {mrr8:.3f} | {r32:.3f} | {r8:.3f} |"
        )
    keep = all(verdicts)
    lines += [
        "",
        f"Verdict: quality {'holds' if keep else 'does NOT hold'} (int8 within 0.01 MRR@10 of "
        f"float32 on every set); int8 is {speed['int8'] / speed['fp32']:.2f}× as fast. "
        + (
            "Kept as an option only (the default stays float32)."
            if keep
            else "Not kept: the default stays float32."
        ),
    ]
    title = f"int8 vs float32 MiniLM, {len(texts):,}-paper subset (bench/bench_int8.py)"
    if args.no_append:
        print("\n".join(lines))
    else:
        append_section(title, lines)


if __name__ == "__main__":
    main()
