"""The in-memory vector indexes, on faiss: an exact scan, an HNSW graph, and an overlay of
recent changes over either.

faiss rather than numpy for the scan: numpy has no SIMD kernel for float16. faiss rather than
hnswlib or usearch for the graph (bench/bench_ann.py measured all three on the same vectors, at
equal recall): it has wheels, applies a filter inside the graph walk in C++ (an
``IDSelector``, where hnswlib calls back into Python per node and usearch's Python API has
none), and keeps float16 codes at float32's recall in half the memory. The figures behind these
choices are in docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import os
import threading
from typing import Any, Self

import numpy as np

from dailypapers.search.vectors.protocol import VectorDtype

# HNSW build parameters. Several M / efConstruction pairs lay on one recall-latency curve
# (docs/benchmarks.md), so the choice is build time and headroom at a million vectors: M=32
# with efConstruction 64, the fastest M=32 build (below 2·M, efConstruction stops pruning links
# and builds a denser, slower graph).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# A filtered graph walk keeps only the permitted nodes it meets, so its beam is widened to
# efSearch × (1 + FILTER_WIDEN / share permitted), which keeps recall@10 at the unfiltered
# level down to FILTER_EXACT_SHARE permitted. Below that share, or FILTER_EXACT_ROWS rows,
# scoring the permitted rows exactly is both exact and cheaper than the wide beam.
FILTER_WIDEN = 0.4
FILTER_EXACT_SHARE = 0.02
FILTER_EXACT_ROWS = 10_000
# Up to this many permitted rows, decoding just them beats a selector scan over every row
# (the scan reads a bit per row of the index).
GATHER_MAX_ROWS = 512


def _faiss() -> Any:
    """faiss, imported on first use: a store that never builds an index never loads it."""
    import faiss

    return faiss


_thread = threading.local()


def _one_thread_per_query() -> Any:
    """faiss for a search on the calling thread, with OpenMP limited to that thread.

    faiss spreads even a single query's scan over every core, and with a busy second core the
    OpenMP team waits on it; a web server runs queries side by side instead. The setting is
    per thread, so a background graph build keeps its own.
    """
    faiss = _faiss()
    if getattr(_thread, "omp_threads", None) != 1:
        faiss.omp_set_num_threads(1)
        _thread.omp_threads = 1
    return faiss


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _as_query(query: np.ndarray, dim: int) -> np.ndarray:
    vector = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
    if vector.shape[1] != dim:
        raise ValueError(f"query has {vector.shape[1]} dimensions, the index {dim}")
    return vector


def _positions(ids: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Row positions (sorted, unique) of the ``allowed`` paper ids that ``ids`` holds."""
    wanted = np.asarray(allowed, dtype=np.int64).ravel()
    if not len(ids) or not len(wanted):
        return np.empty(0, dtype=np.int64)
    positions = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    positions = positions[ids[positions] == wanted]
    # The contract passes sorted ids; np.unique (a sort) is only paid when it did not.
    if len(positions) > 1 and not bool(np.all(positions[1:] > positions[:-1])):
        positions = np.unique(positions)
    return positions


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (argpartition, then a sort of k)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    head = np.argpartition(-scores, k - 1)[:k]
    return head[np.argsort(-scores[head], kind="stable")]


def _sorted_unique(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64).ravel()
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(ids):
        raise ValueError(f"expected {len(ids)} vectors as rows, got shape {vectors.shape}")
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
        if bool(np.any(ids[1:] == ids[:-1])):
            raise ValueError("paper ids must be unique")
    return ids, vectors


def _add_in_chunks(index: Any, vectors: np.ndarray, chunk: int = 65_536) -> None:
    """Add rows a slice at a time, so a 1M-row float64 or strided input is never copied whole."""
    for start in range(0, len(vectors), chunk):
        index.add(np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32))


class _FaissRows:
    """Paper ids sorted in row order over a faiss index, some rows possibly retired.

    ``without(ids)`` returns a view that skips some papers and shares the faiss index: how a
    changed vector's old row is retired until the next rebuild, without copying anything.
    """

    dim: int
    dtype: VectorDtype
    _ids: np.ndarray  # paper id of each row, ascending
    _dead: np.ndarray | None  # True for a retired row
    _live: np.ndarray  # paper ids of the rows not retired
    _live_rows: np.ndarray | None  # their positions, and as a bitmap: computed once per view,
    _live_bits: np.ndarray | None  # not per query (a million rows would cost milliseconds)
    _scanner: Any  # faiss index that scores rows exactly (a flat one)

    def _init_rows(self, ids: np.ndarray, dtype: VectorDtype, dim: int) -> None:
        self._ids = ids
        self._ids.flags.writeable = False
        self._dead = None
        self._live = ids
        self._live_rows = self._live_bits = None
        self.dtype = dtype
        self.dim = dim

    @property
    def ids(self) -> np.ndarray:
        return self._live

    def __len__(self) -> int:
        return len(self._live)

    def without(self, paper_ids: np.ndarray) -> Self:
        """This index minus ``paper_ids`` (a view sharing the faiss index)."""
        positions = _positions(self._ids, paper_ids)
        if not len(positions):
            return self
        view = copy.copy(self)
        dead = np.zeros(len(self._ids), dtype=bool) if self._dead is None else self._dead.copy()
        dead[positions] = True
        view._dead = dead
        view._live = self._ids[~dead]
        view._live.flags.writeable = False
        view._live_rows = np.flatnonzero(~dead)
        view._live_bits = np.packbits(~dead, bitorder="little")
        return view

    def vectors(self) -> np.ndarray:
        """The live vectors as float32 rows in ``ids`` order (a copy; slow, for rebuilds)."""
        if not len(self._ids):
            return np.empty((0, self.dim), dtype=np.float32)
        rows: np.ndarray = self._scanner.reconstruct_n(0, len(self._ids))
        return rows if self._dead is None else rows[~self._dead]

    def _permitted(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """Positions a search may return; ``None`` means every row."""
        if allowed is None:
            return self._live_rows
        positions = _positions(self._ids, allowed)
        return positions if self._dead is None else positions[~self._dead[positions]]

    def _selector(self, positions: np.ndarray) -> tuple[Any, np.ndarray]:
        """A faiss selector of the rows at ``positions``, and the bitmap it reads (keep it
        alive for the search): one bit per row, little-endian as IDSelectorBitmap reads it."""
        if positions is self._live_rows and self._live_bits is not None:
            bits = self._live_bits
        else:
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[positions] = True
            bits = np.packbits(mask, bitorder="little")
        faiss = _faiss()
        return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits

    def _exact(
        self, vector: np.ndarray, k: int, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` among the rows at ``positions``."""
        if not len(positions):
            return _empty()
        if len(positions) <= GATHER_MAX_ROWS:
            rows: np.ndarray = self._scanner.reconstruct_batch(positions)
            scores = rows @ vector[0]
            best = _top_k(scores, k)
            return self._ids[positions[best]], scores[best].astype(np.float32)
        params = _faiss().SearchParameters()
        params.sel, _bits = self._selector(positions)
        scores2, rows2 = self._scanner.search(vector, min(k, len(positions)), params=params)
        return _results(self._ids, rows2[0], scores2[0])


class ExactIndex(_FaissRows):
    """Every vector scored per query: exact, and the right choice for all but large stores
    (below VECTOR_ANN_MIN_VECTORS).

    Held as float16 (half the memory and scan time; cosines within ~1e-3 of float32, so only
    near-ties can swap) or float32, and scanned by faiss's flat index.
    """

    def __init__(
        self, ids: np.ndarray, vectors: np.ndarray, *, dtype: VectorDtype = "float16"
    ) -> None:
        ids, vectors = _sorted_unique(ids, vectors)
        self._init_rows(ids, dtype, int(vectors.shape[1]))
        faiss = _faiss()
        if dtype == "float32":
            self._scanner = faiss.IndexFlatIP(self.dim)
        else:
            self._scanner = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        _add_in_chunks(self._scanner, vectors)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        vector = _as_query(query, self.dim)
        if k <= 0 or not len(self):
            return _empty()
        _one_thread_per_query()
        positions = self._permitted(allowed)
        if positions is None:
            scores, rows = self._scanner.search(vector, min(k, len(self)))
            return _results(self._ids, rows[0], scores[0])
        return self._exact(vector, k, positions)


class HnswIndex(_FaissRows):
    """A faiss HNSW graph: approximate, and its query time grows slowly with the store.

    Builds with every core, slowly for a large store, which is why ``vector_index`` builds it
    in the background. A filter widens the beam; a very selective one is scanned exactly.
    """

    def __init__(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        dtype: VectorDtype = "float16",
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = 128,
        threads: int = 0,
    ) -> None:
        ids, vectors = _sorted_unique(ids, vectors)
        self._init_rows(ids, dtype, int(vectors.shape[1]))
        self.ef_search = ef_search
        faiss = _faiss()
        if dtype == "float32":
            graph = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
        else:
            graph = faiss.IndexHNSWSQ(
                self.dim, faiss.ScalarQuantizer.QT_fp16, m, faiss.METRIC_INNER_PRODUCT
            )
        graph.hnsw.efConstruction = ef_construction
        # The build does use every core (OpenMP's setting is per calling thread).
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)
        _thread.omp_threads = None
        _add_in_chunks(graph, vectors)
        self._graph = graph
        self._scanner = faiss.downcast_index(graph.storage)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        vector = _as_query(query, self.dim)
        if k <= 0 or not len(self):
            return _empty()
        faiss = _one_thread_per_query()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        positions = self._permitted(allowed)
        if positions is None:
            scores, rows = self._graph.search(vector, k, params=params)
            return _results(self._ids, rows[0], scores[0])
        share = len(positions) / len(self._ids)
        if share < FILTER_EXACT_SHARE or len(positions) <= FILTER_EXACT_ROWS:
            return self._exact(vector, k, positions)
        params.sel, _bits = self._selector(positions)
        params.efSearch = int(min(params.efSearch * (1 + FILTER_WIDEN / share), 4096))
        scores, rows = self._graph.search(vector, k, params=params)
        found = _results(self._ids, rows[0], scores[0])
        if len(found[0]) < min(k, len(positions)):
            return self._exact(vector, k, positions)
        return found


def _results(
    ids: np.ndarray, rows: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    found = rows >= 0  # faiss pads a short result with -1
    return ids[rows[found]], scores[found].astype(np.float32)


class OverlayIndex:
    """An index plus the vectors written since it was built, searched together.

    The base is searched through a view that skips the papers the overlay holds, so a
    re-embedded paper is found by its new vector only. The overlay is a small exact index;
    ``vector_index`` rebuilds the whole in the background once it grows.
    """

    def __init__(self, base: ExactIndex | HnswIndex, extra: ExactIndex) -> None:
        self.base = base
        self.extra = extra
        self.dim = base.dim
        self.dtype = base.dtype
        self._base_view = base.without(extra.ids)
        self._ids = np.sort(np.concatenate([self._base_view.ids, extra.ids]))  # disjoint
        self._ids.flags.writeable = False

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        base_ids, base_scores = self._base_view.search(query, k, allowed)
        extra_ids, extra_scores = self.extra.search(query, k, allowed)
        ids = np.concatenate([base_ids, extra_ids])
        scores = np.concatenate([base_scores, extra_scores])
        best = _top_k(scores, k)[:k]
        return ids[best], scores[best]
