"""Embed every paper of the search benchmark store into the vector cache (bench/vector_cache.py).

Run once in the background (about 1.5 hours for 75k papers on 2 cores); a killed run resumes
where it stopped, since each batch is committed. The February month's papers go first, then
the rest in a fixed random order, so any prefix of the cache is a random subset of the corpus.

    nice python -m bench.embed_corpus [--limit N] [--variant int8]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any, Literal, overload

from sqlalchemy import select
from tqdm import tqdm

from bench.search_store import build_store
from bench.vector_cache import CACHE_DIR, VectorCache
from dailypapers.config import Settings
from dailypapers.db import make_engine
from dailypapers.models import DailyEntry, Paper
from dailypapers.search.embed import MODEL_FILE, Embedder, content_hash, paper_text

MODEL_DIR = CACHE_DIR / "model"
VARIANTS = {"fp32": MODEL_FILE, "int8": "model.int8.onnx"}


@overload
def paper_texts(settings: Settings) -> list[str]: ...
@overload
def paper_texts(settings: Settings, *, with_ids: Literal[True]) -> tuple[list[str], list[str]]: ...


def paper_texts(settings: Settings, *, with_ids: bool = False) -> Any:
    """The texts to embed, month first, then the corpus in a fixed shuffled order (with their
    arXiv ids when asked)."""
    engine = make_engine(settings)
    with engine.connect() as connection:
        month = set(connection.execute(select(DailyEntry.paper_id)).scalars())
        rows = connection.execute(
            select(Paper.id, Paper.title, Paper.abstract, Paper.arxiv_id)
        ).all()
    engine.dispose()
    rows.sort(key=lambda row: row[0])
    random.Random(20260201).shuffle(rows)
    rows.sort(key=lambda row: row[0] not in month)  # stable: month first, shuffle kept
    texts = [paper_text(title, abstract) for _, title, abstract, _ in rows]
    return (texts, [row[3] for row in rows]) if with_ids else texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="fp32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    settings = build_store()
    texts = paper_texts(settings)[: args.limit]
    embedder = Embedder(MODEL_DIR, threads=args.threads, model_file=VARIANTS[args.variant])
    name = embedder.model if args.variant == "fp32" else f"{embedder.model}-{args.variant}"
    cache = VectorCache(name, embedder.dim)
    done = cache.known()
    todo = [text for text in texts if content_hash(text, name) not in done]
    print(f"{len(texts):,} texts, {len(texts) - len(todo):,} cached, {len(todo):,} to embed")
    started = time.perf_counter()
    step = args.batch * 8
    with tqdm(total=len(todo), unit="paper", mininterval=30) as bar:
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            vectors = embedder.encode(chunk, batch_size=args.batch)
            cache.put_many((content_hash(t, name), v) for t, v in zip(chunk, vectors, strict=True))
            bar.update(len(chunk))
    seconds = time.perf_counter() - started
    if todo:
        print(f"embedded {len(todo):,} in {seconds:.0f} s ({len(todo) / seconds:.1f} papers/s)")
    cache.close()


if __name__ == "__main__":
    main()
