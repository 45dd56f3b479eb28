"""Hybrid search: lexical and semantic candidates fused by score (DESIGN.md §2, issue #5).

Plain reciprocal-rank fusion loses to BM25 on known-item queries: a paper ranked first
lexically but missing from the dense top-k falls below papers ranked ~5th in both. So the
dense side is not a rank here: every candidate from either branch gets its real cosine to the
query (read from its stored vector, also when the dense search did not return it). The
lexical side is a smooth function of the lexical rank, ``exp(-(rank - 1) / decay)``: bm25
values of the AND stage and of the OR fallback are not comparable, ranks are. Papers that
share the meaning but not the words come in from the dense side when their cosine is at least
0.4.

Then the head (the first 20 of each branch) is re-ranked with term coverage
(search/coverage.py): the share of the query's terms, each weighted by its rarity (bm25's
IDF), that the paper's title, abstract and authors hold. bm25 favours a paper repeating one
rare word over one holding more of the words once each; on keyword queries the paper sought
is usually the one holding the most (Lucene's classic scoring had the same "coord" factor).
Keyword score = rank part (decay 8) + 5 × cosine + 5 × coverage: words held and meaning weigh
alike, so a paper found by meaning alone is not buried under papers holding half the words.
A sentence-length query (more than 8 words) weighs the dense side more (rank decay 2, cosine
× 4) and reads no coverage: the encoder reads a sentence well, keyword lists poorly. Then
pins: an arXiv id in the query, and a paper whose title or system name ("V-GRPO" in
"V-GRPO: …") is exactly the query, go first. The constants were chosen on the tune half of
``bench/search_eval.py`` (``bench/tune_fusion.py``) and reported on the other half
(docs/benchmarks.md).

Without a model, or for papers without a vector yet, search is by words: a lexical hit with
no vector is scored with the mean cosine of the others (the floor's when none has one), the
dense branch is skipped, and words-only search orders its head mostly by coverage, the lexical
rank deciding close calls.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.models import Embedding, Paper
from dailypapers.search.coverage import coverage as term_coverage
from dailypapers.search.coverage import wanted_terms
from dailypapers.search.embed import MODEL_NAME, Embedder, ModelUnavailableError, load_embedder
from dailypapers.search.indexer import model_file
from dailypapers.search.lexical import (
    LexicalHit,
    allowed_clause,
    lexical_search,
    match_terms,
    term_rarity,
)
from dailypapers.search.query import ParsedQuery, parse_query
from dailypapers.search.vectors import VectorIndex, vector_index

log = logging.getLogger(__name__)

# Candidates taken from each branch before fusion; results past this depth are not ranked.
CANDIDATES = 100
MAX_RESULTS = CANDIDATES
# Fused score = exp(-(lexical rank - 1) / LEXICAL_RANK_DECAY) + DENSE_WEIGHT * cosine
# + COVERAGE_WEIGHT * term coverage (head only, below). Chosen on the evaluation's tune split
# (bench/tune_fusion.py, docs/search-eval.md "Choosing the fusion"; figures in
# docs/benchmarks.md). Coverage weighing more gained a little there but buried papers found by
# meaning alone; at the dense weight's level it keeps them.
LEXICAL_RANK_DECAY = 8.0
DENSE_WEIGHT = 5.0
COVERAGE_WEIGHT = 5.0
# A query of more than SENTENCE_WORDS words is a sentence: the encoder reads its meaning well
# while the lexical OR fallback over a bounded set of rare terms is approximate, so the dense
# side weighs more (tune split). Term coverage adds nothing measurable there, so it is not
# read.
SENTENCE_WORDS = 8
SENTENCE_RANK_DECAY = 2.0
SENTENCE_DENSE_WEIGHT = 4.0
SENTENCE_COVERAGE_WEIGHT = 0.0
# Words-only search (no model or no vectors): the head ordered mostly by coverage (better
# paraphrase results on the tune split, summary and names unchanged).
WORDS_ONLY_RANK_DECAY = 4.0
WORDS_ONLY_COVERAGE_WEIGHT = 8.0
# With filters or exclusions, the dense branch looks this deep before falling back to a
# search within the permitted ids (see _dense_candidates).
FILTERED_DEPTH = 1000
# Lexical hits checked for an exact title or system name.
PIN_DEPTH = 20
# A dense-only candidate (no lexical match) must be at least this close to the query.
MIN_DENSE_ONLY_COSINE = 0.4
# The head re-ranked with term coverage: this many candidates of each branch. Past it, bm25
# and the cosine have already judged a paper unlikely, and covering all 200 candidates would
# cost several times the head's 40.
HEAD_DEPTH = 20


@dataclass(frozen=True)
class SearchHit:
    paper_id: int
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    cosine: float | None
    pinned: bool = False


@dataclass
class SearchResults:
    parsed: ParsedQuery
    hits: list[SearchHit]
    # The whole fused list was this long (at most MAX_RESULTS): "more" exists past the page.
    total: int
    semantic: bool
    notes: list[str] = field(default_factory=list)


def _normalized(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s.+-]", " ", text).split())


def _name_of(title: str) -> str:
    head, sep, _ = title.partition(":")
    return _normalized(head) if sep else ""


class _EmbedderCache:
    """The query encoder, or ``None`` while there is none. Loaded models are kept by
    ``embed.load_embedder``; this remembers failures only, so a model that could not be
    loaded is tried again after RETRY_SECONDS: `make model` run while the site is up takes
    effect without a restart, and a broken file does not cost a load attempt per query."""

    RETRY_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_at: dict[tuple[Path, int, str], float] = {}

    def get(self, folder: Path, threads: int, model_file: str) -> Embedder | None:
        key = (folder, threads, model_file)
        with self._lock:
            failed_at = self._failed_at.get(key)
        if failed_at is not None and time.monotonic() - failed_at < self.RETRY_SECONDS:
            return None
        try:
            embedder = load_embedder(folder, threads=threads, model_file=model_file)
        except ModelUnavailableError:
            embedder = None
        except Exception:  # a broken model file must not break search: lexical answers
            log.exception("embedding model in %s could not be loaded", folder)
            embedder = None
        with self._lock:
            if embedder is None:
                self._failed_at[key] = time.monotonic()
            else:
                self._failed_at.pop(key, None)
        return embedder


_EMBEDDERS = _EmbedderCache()


def query_embedder(settings: Settings) -> Embedder | None:
    return _EMBEDDERS.get(
        settings.resolved_model_dir.resolve(), settings.embedding_threads, model_file(settings)
    )


@lru_cache(maxsize=512)
def _query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """Pagination and repeated queries encode once."""
    return embedder.encode_query(text)


def _cosines(
    session: Session, model: str, query: np.ndarray, paper_ids: list[int]
) -> dict[int, float]:
    """Cosine to the query of each paper that has a vector of ``model`` (one indexed read)."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(Embedding.paper_id, Embedding.vector).where(
            Embedding.paper_id.in_(paper_ids), Embedding.model == model
        )
    ).all()
    # A vector of another size (a damaged row) is skipped, as the vector index skips it.
    rows = [row for row in rows if len(row[1]) == query.shape[0] * 4]
    if not rows:
        return {}
    matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype="<f4").reshape(len(rows), -1)
    scores = matrix @ query
    return {paper_id: float(score) for (paper_id, _), score in zip(rows, scores, strict=True)}


def _dense_candidates(
    session: Session, index: VectorIndex, query: np.ndarray, parsed: ParsedQuery
) -> list[tuple[int, float]]:
    """The query's nearest papers among those its filters and exclusions permit.

    The index is searched unfiltered, FILTERED_DEPTH deep, and the neighbours checked against
    the filters by id: listing every paper a broad filter permits (cat:cs.LG) is slow on a
    large store. Only when too few neighbours pass (a narrow filter) is the search repeated
    within the permitted ids, which are then few to list."""
    if not parsed.filters.active and not parsed.excluded:
        return _neighbours(index, query, CANDIDATES)
    clause = allowed_clause(parsed)
    nearest = _neighbours(index, query, FILTERED_DEPTH)
    permitted = set(
        session.scalars(select(Paper.id).where(Paper.id.in_([i for i, _ in nearest]), clause))
    )
    kept = [(paper_id, score) for paper_id, score in nearest if paper_id in permitted]
    if len(kept) >= CANDIDATES or len(nearest) < FILTERED_DEPTH:
        return kept[:CANDIDATES]
    allowed = np.asarray(
        session.scalars(select(Paper.id).where(clause).order_by(Paper.id)).all(), dtype=np.int64
    )
    return _neighbours(index, query, CANDIDATES, allowed)


def _neighbours(
    index: VectorIndex, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    ids, scores = index.search(query, k, allowed)
    return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]


def _pinned_ids(session: Session, parsed: ParsedQuery, lexical: list[LexicalHit]) -> list[int]:
    """An arXiv id in the query, then papers among the lexical hits whose title or system
    name is exactly the query."""
    pinned: list[int] = []
    if parsed.arxiv_id:
        found = session.scalar(
            select(Paper.id).where(Paper.arxiv_id == parsed.arxiv_id, Paper.hidden_at.is_(None))
        )
        if found is not None:
            pinned.append(found)
    wanted = _normalized(parsed.text)
    # An exact title or name ranks near the top lexically (title weight); looking further
    # only costs time.
    near_top = lexical[:PIN_DEPTH]
    if wanted and near_top:
        titles = dict(
            session.execute(
                select(Paper.id, Paper.title).where(Paper.id.in_([h.paper_id for h in near_top]))
            ).all()
        )
        for hit in near_top:
            title = titles.get(hit.paper_id, "")
            if hit.paper_id not in pinned and wanted in (_normalized(title), _name_of(title)):
                pinned.append(hit.paper_id)
    return pinned


def head_ids(
    lexical: list[LexicalHit],
    dense: list[tuple[int, float]],
    *,
    min_dense_only: float = MIN_DENSE_ONLY_COSINE,
    depth: int = HEAD_DEPTH,
) -> list[int]:
    """The candidates re-ranked with term coverage: the first ``depth`` of each branch (a
    dense one only when close enough to be kept at all)."""
    dense_head = [paper_id for paper_id, cosine in dense[:depth] if cosine >= min_dense_only]
    return list(dict.fromkeys([*(hit.paper_id for hit in lexical[:depth]), *dense_head]))


def fuse(
    lexical: list[LexicalHit],
    dense: list[tuple[int, float]],
    cosines: dict[int, float],
    *,
    coverage: Mapping[int, float] | None = None,
    rank_decay: float = LEXICAL_RANK_DECAY,
    dense_weight: float = DENSE_WEIGHT,
    coverage_weight: float = COVERAGE_WEIGHT,
    min_dense_only: float = MIN_DENSE_ONLY_COSINE,
) -> list[SearchHit]:
    """The fused ranking of both candidate lists (pure; bench/tune_fusion.py sweeps it).

    ``coverage`` (paper id → share of the query's terms its text holds) marks the head: those
    candidates come first, scored with ``coverage_weight × coverage`` too; the others follow
    by the rest of the score."""
    coverage = coverage or {}
    lexical_rank = {hit.paper_id: rank for rank, hit in enumerate(lexical, 1)}
    dense_rank = {paper_id: rank for rank, (paper_id, _) in enumerate(dense, 1)}
    all_cosines = {**dict(dense), **cosines}
    known = [all_cosines[p] for p in lexical_rank if p in all_cosines]
    # A lexical hit without a vector yet is neither favoured nor punished by the dense side:
    # it gets the others' mean cosine; when none has one (papers loaded, not yet embedded),
    # the floor's, as close as the least close paper let in by meaning alone.
    unknown_cosine = sum(known) / len(known) if known else min_dense_only
    hits: list[SearchHit] = []
    for paper_id in dict.fromkeys([*lexical_rank, *dense_rank]):
        cosine = all_cosines.get(paper_id)
        rank = lexical_rank.get(paper_id)
        if rank is None and (cosine is None or cosine < min_dense_only):
            continue
        score = math.exp(-(rank - 1) / rank_decay) if rank is not None else 0.0
        score += dense_weight * (cosine if cosine is not None else unknown_cosine)
        score += coverage_weight * coverage.get(paper_id, 0.0)
        hits.append(
            SearchHit(
                paper_id=paper_id,
                score=score,
                lexical_rank=rank,
                dense_rank=dense_rank.get(paper_id),
                cosine=cosine,
            )
        )
    hits.sort(
        key=lambda hit: (
            hit.paper_id not in coverage,
            -hit.score,
            hit.lexical_rank or 10**9,
            hit.paper_id,
        )
    )
    return hits


def weights_for(text: str, *, semantic: bool = True) -> dict[str, float]:
    """The fusion's weights for a query's free text (see SENTENCE_WORDS); ``semantic=False``:
    those of words-only search."""
    if not semantic:
        return {"rank_decay": WORDS_ONLY_RANK_DECAY, "coverage_weight": WORDS_ONLY_COVERAGE_WEIGHT}
    if len(text.split()) > SENTENCE_WORDS:
        return {
            "rank_decay": SENTENCE_RANK_DECAY,
            "dense_weight": SENTENCE_DENSE_WEIGHT,
            "coverage_weight": SENTENCE_COVERAGE_WEIGHT,
        }
    return {
        "rank_decay": LEXICAL_RANK_DECAY,
        "dense_weight": DENSE_WEIGHT,
        "coverage_weight": COVERAGE_WEIGHT,
    }


def _coverages(session: Session, parsed: ParsedQuery, paper_ids: list[int]) -> dict[int, float]:
    """Term coverage (search/coverage.py) of each paper's title, abstract and authors, each
    term weighted by its rarity: holding "manuscripts" tells more than holding "scientific"."""
    terms = match_terms(parsed)
    if not paper_ids or not terms:
        return {}
    wanted = wanted_terms(terms, term_rarity(session, terms))
    rows = session.execute(
        select(Paper.id, Paper.title, Paper.abstract, Paper.authors_text).where(
            Paper.id.in_(paper_ids)
        )
    ).all()
    return {
        paper_id: term_coverage(wanted, f"{title} {abstract or ''} {authors or ''}")
        for paper_id, title, abstract, authors in rows
    }


def search(
    session: Session,
    settings: Settings,
    raw_query: str | ParsedQuery,
    *,
    limit: int = 20,
    offset: int = 0,
    semantic: bool = True,
    engine: Engine | None = None,
) -> SearchResults:
    """Best matches first, ``limit`` from ``offset``. Raises query.QueryError for a malformed
    filter. ``semantic=False`` (or no model, or no vectors) searches words only."""
    parsed = raw_query if isinstance(raw_query, ParsedQuery) else parse_query(raw_query)
    notes: list[str] = []
    lexical = lexical_search(session, parsed, limit=CANDIDATES) if not parsed.is_empty else []
    dense: list[tuple[int, float]] = []
    cosines: dict[int, float] = {}
    embedder = query_embedder(settings) if semantic and parsed.text.strip() else None
    used_semantic = False
    if embedder is not None:
        try:
            index = vector_index(
                settings,
                engine or session.get_bind(),  # type: ignore[arg-type]
                model=embedder.model,
            )
            used_semantic = index is not None and len(index) > 0
            if index is not None and used_semantic:
                query_vector = _query_vector(embedder, parsed.text)
                dense = _dense_candidates(session, index, query_vector, parsed)
                have = {paper_id for paper_id, _ in dense}
                missing = [hit.paper_id for hit in lexical if hit.paper_id not in have]
                cosines = _cosines(session, embedder.model, query_vector, missing)
        except Exception:  # the words still answer when the semantic side fails
            log.exception("semantic search failed for %r; answering with words only", parsed.text)
            dense, cosines, used_semantic = [], {}, False
            notes.append("Semantic search failed; results match the words only.")
    if semantic and parsed.text.strip() and not used_semantic and not notes:
        notes.append("Semantic search is unavailable; results match the words only.")
    if not used_semantic:
        dense, cosines = [], {}
    weights = weights_for(parsed.text, semantic=used_semantic)
    # Weight 0 leaves the order to the rest of the score (no head) and skips the read.
    coverage = None
    if weights["coverage_weight"]:
        coverage = _coverages(session, parsed, head_ids(lexical, dense))
    fused = fuse(lexical, dense, cosines, coverage=coverage, **weights)
    pinned = _pinned_ids(session, parsed, lexical)
    if pinned:
        by_id = {hit.paper_id: hit for hit in fused}
        first = [
            by_id.get(p, SearchHit(p, float("inf"), None, None, None, pinned=True)) for p in pinned
        ]
        first = [
            SearchHit(h.paper_id, h.score, h.lexical_rank, h.dense_rank, h.cosine, pinned=True)
            for h in first
        ]
        fused = first + [hit for hit in fused if hit.paper_id not in set(pinned)]
    fused = _visible(session, fused[:MAX_RESULTS])
    return SearchResults(
        parsed=parsed,
        hits=fused[offset : offset + limit],
        total=len(fused),
        semantic=used_semantic,
        notes=notes,
    )


def _visible(session: Session, hits: list[SearchHit]) -> list[SearchHit]:
    """Drop hidden papers (the dense branch does not know moderation)."""
    if not hits:
        return hits
    hidden = set(
        session.scalars(
            select(Paper.id).where(
                Paper.id.in_([hit.paper_id for hit in hits]), Paper.hidden_at.is_not(None)
            )
        )
    )
    return [hit for hit in hits if hit.paper_id not in hidden]


def related_papers(
    session: Session, settings: Settings, paper_id: int, *, limit: int = 8
) -> list[int]:
    """Nearest neighbours of the paper's vector, itself excluded; without a vector (or a
    model), papers sharing the most words of its title."""
    embedder = query_embedder(settings)
    model = embedder.model if embedder is not None else MODEL_NAME
    row = session.execute(
        select(Embedding.vector).where(Embedding.paper_id == paper_id, Embedding.model == model)
    ).scalar_one_or_none()
    index = None
    if row is not None:
        index = vector_index(settings, session.get_bind(), model=model)  # type: ignore[arg-type]
    if row is not None and index is not None and len(index) > 0:
        vector = np.frombuffer(row, dtype="<f4")
        ids, _ = index.search(vector, limit + 10, None)
        found = [int(i) for i in ids if int(i) != paper_id]
    else:
        title = session.scalar(select(Paper.title).where(Paper.id == paper_id)) or ""
        parsed = parse_query(" ".join(_normalized(title).split()[:12]))
        found = [hit.paper_id for hit in lexical_search(session, parsed, limit=limit + 10)]
        found = [p for p in found if p != paper_id]
    hits = _visible(session, [SearchHit(p, 0.0, None, None, None) for p in found])
    return [hit.paper_id for hit in hits[:limit]]
