"""Nearest neighbours of a query vector among the papers' embeddings (DESIGN.md §2, §4).

One small protocol, two real implementations, chosen by size or by the VECTOR_INDEX setting:

- ``ExactIndex`` scores every vector (a flat scan): exact by construction, and fast enough up to
  ~200k vectors. The scan runs in faiss, not numpy: numpy has no SIMD kernel for float16 (a
  75k × 384 float16 product took 340–520 ms here), while faiss scans the 75k real vectors'
  float16 codes in 2.0 ms p50 on one thread (float32: 3.6 ms; numpy's float32 BLAS: 8.0 ms).
- ``HnswIndex`` is a faiss HNSW graph: 0.2 ms p50 per query at 1M vectors at recall@10 0.95–0.97
  (efSearch 96–128). bench/bench_ann.py measured faiss, hnswlib and usearch on the same 250k
  vectors: equal recall at equal parameters, usearch ~2× slower per query, so faiss for what
  the others lack here — wheels (hnswlib 0.8.0 compiles from source), filters applied inside
  the graph walk in C++ (an ``IDSelector``; hnswlib calls back into Python per node, usearch's
  Python API has none), and float16 codes at float32's recall (half the memory; 1M vectors
  take 0.98 GB with the graph).

``vector_index(settings, engine)`` keeps one index per database and model in the process: loaded
lazily with one query, refreshed from the rows whose ``updated_at`` moved (looked for at most
every VECTOR_REFRESH_SECONDS with ``count(*)`` + ``max(updated_at)``, both answered by the
``updated_at`` index), and rebuilt in a background thread — as a graph above
VECTOR_ANN_MIN_VECTORS — while the previous index keeps answering.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import numpy as np
from sqlalchemy import Connection, Engine, String, func, select, type_coerce
from sqlalchemy.orm import Session

from dailypapers.models import Embedding
from dailypapers.search.embed import MODEL_NAME
from dailypapers.search.pgvector_index import PgvectorIndex, has_pgvector

if TYPE_CHECKING:
    from dailypapers.config import Settings

log = logging.getLogger(__name__)

VectorDtype = Literal["float32", "float16"]

# HNSW build parameters (at 1M vectors: built in 128 s on 2 cores, docs/benchmarks.md). On 200k
# clustered MiniLM vectors with title queries, M / efConstruction = 16/80, 24/48, 32/40, 32/64,
# 32/100 and 48/80 all lay on one recall-latency curve (recall@10 0.95–0.97 at 0.11–0.16 ms),
# so the choice is build time and headroom at 1M: M=32 (256 B of links per vector beside 768 B
# of float16 codes) with efConstruction 64, the fastest M=32 build (below 2·M, efConstruction
# stops pruning links and builds a denser, slower graph).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# A filtered graph walk keeps only the permitted nodes it meets, so its beam is widened to
# efSearch × (1 + FILTER_WIDEN / share permitted): measured on 150k clustered vectors, recall@10
# stays ≥ 0.95 from 50 % down to 2 % permitted. Below FILTER_EXACT_SHARE, or FILTER_EXACT_ROWS
# rows, scoring the permitted rows exactly is both exact and cheaper than the wide beam.
FILTER_WIDEN = 0.4
FILTER_EXACT_SHARE = 0.02
FILTER_EXACT_ROWS = 10_000
# Up to this many permitted rows, decoding just them beats a selector scan over every row
# (faiss reconstructs a float16 row in ~7 µs; the scan reads a bit per row of the index).
GATHER_MAX_ROWS = 512
# Rows re-read before the last seen ``updated_at``: a writer that stamped its row before a
# concurrent one but committed after it is still picked up.
REFRESH_SLACK = dt.timedelta(seconds=60)
# Changed vectors kept in the exact overlay before the whole index is rebuilt: a few thousand
# rows add well under a millisecond to a search, and a rebuild costs seconds (minutes for a
# 1M graph), so arrivals of a day or two wait in the overlay.
OVERLAY_REBUILD_SHARE = 0.02
OVERLAY_REBUILD_MIN = 2_000
BUILD_RETRY_SECONDS = 300.0


class VectorIndex(Protocol):
    """Paper ids by cosine similarity to a unit query vector, best first."""

    @property
    def ids(self) -> np.ndarray:
        """Sorted int64 paper ids the index holds."""
        ...

    def __len__(self) -> int: ...

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` (paper ids int64, cosine scores float32), best first.

        :param allowed: paper ids a filter permits (sorted or not); ``None`` = every paper.
        """
        ...


def _faiss() -> Any:
    """faiss, imported on first use: a store that never builds an index never loads it."""
    import faiss

    return faiss


_thread = threading.local()


def _one_thread_per_query() -> Any:
    """faiss for a search on the calling thread, with OpenMP limited to that thread.

    faiss spreads even a single query's scan over every core; with a busy second core the
    OpenMP team waits on it (75k float16 scan: 1.7 ms on one thread, 13.6 ms p50 on two with
    the other core loaded). A web server runs queries side by side instead. The setting is
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
    """Every vector scored per query: exact, and the right choice below ~200k vectors.

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
    """A faiss HNSW graph: sub-millisecond queries at 1M vectors, approximate.

    Builds with every core (minutes at 1M vectors, which is why ``vector_index`` builds it in
    the background). A filter widens the beam; a very selective one is scanned exactly.
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


# ---------------------------------------------------------------- loading and the process cache


@dataclass
class VectorRows:
    """Vectors of one model as read from the ``embeddings`` table, sorted by paper id."""

    ids: np.ndarray
    vectors: np.ndarray
    updated_at: list[Any] = field(default_factory=list)  # when read with their stamps

    def __len__(self) -> int:
        return len(self.ids)


def _stack(rows: Sequence[Any], model: str) -> VectorRows:
    """Rows of (paper_id, dim, vector[, updated_at]) stacked with one join and one
    ``np.frombuffer``; a vector of another size than the first is skipped."""
    if not rows:
        return VectorRows(np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32))
    dim = int(rows[0][1])
    kept = [row for row in rows if row[1] == dim and len(row[2]) == dim * 4]
    if len(kept) < len(rows):
        log.warning("skipped %d %s vectors of another size", len(rows) - len(kept), model)
    ids = np.fromiter((row[0] for row in kept), dtype=np.int64, count=len(kept))
    flat = np.frombuffer(b"".join(row[2] for row in kept), dtype="<f4")
    vectors = flat.reshape(len(kept), dim).astype(np.float32, copy=False)
    stamps = [row[3] for row in kept] if len(rows[0]) > 3 else []
    return VectorRows(ids, vectors, stamps)


def load_vectors(connection: Connection | Session, model: str = MODEL_NAME) -> VectorRows:
    """Every vector of ``model`` in one query, sorted by paper id."""
    result = connection.execute(
        select(Embedding.paper_id, Embedding.dim, Embedding.vector)
        .where(Embedding.model == model)
        .order_by(Embedding.paper_id)
    ).all()
    return _stack(result, model)


def vector_of(session: Session, paper_id: int, model: str = MODEL_NAME) -> np.ndarray | None:
    """The stored unit vector of one paper, or ``None`` (no vector yet, or another model's)."""
    blob = session.execute(
        select(Embedding.vector).where(Embedding.paper_id == paper_id, Embedding.model == model)
    ).scalar_one_or_none()
    if blob is None:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


Signal = tuple[int, dt.datetime | None]
AnyIndex = ExactIndex | HnswIndex | OverlayIndex


@dataclass
class _Slot:
    """One (database, model) in this process: the index and the table state it reflects."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    index: AnyIndex | None = None
    signal: Signal | None = None
    checked_at: float = -math.inf
    # paper id → stamp of the rows inside the slack window already applied (not fetched again).
    recent: dict[int, Any] = field(default_factory=dict)
    builder: threading.Thread | None = None
    built: tuple[ExactIndex | HnswIndex, Signal] | None = None
    retry_build_at: float = -math.inf


_slots: dict[tuple[str, str], _Slot] = {}
_slots_lock = threading.Lock()


def reset_vector_indexes() -> None:
    """Forget every cached index (tests, or a process that switched databases)."""
    with _slots_lock:
        _slots.clear()


def vector_index(
    settings: Settings, engine: Engine, *, model: str = MODEL_NAME
) -> VectorIndex | None:
    """The process's index of ``model`` vectors in ``engine``'s database; ``None`` while it
    holds none (search is then lexical only).

    The first call loads it (one query, an exact index). Later calls look for changed vectors
    at most every VECTOR_REFRESH_SECONDS and never wait behind another thread's refresh:
    changes go to a small exact overlay, and a background thread rebuilds the whole (as an
    HNSW graph from VECTOR_ANN_MIN_VECTORS on) once the overlay grows or the graph is due.
    """
    if has_pgvector(engine):
        # PostgreSQL with pgvector: the database's HNSW index, shared by every process.
        return PgvectorIndex(engine, model, settings.vector_ann_ef_search)
    key = (engine.url.render_as_string(hide_password=False), model)
    with _slots_lock:
        slot = _slots.setdefault(key, _Slot())
    if time.monotonic() - slot.checked_at < settings.vector_refresh_seconds:
        return slot.index
    # Only the first load makes callers wait; later, whoever finds a refresh under way answers
    # with the index there is.
    if not slot.lock.acquire(blocking=slot.signal is None):
        return slot.index
    try:
        if time.monotonic() - slot.checked_at >= settings.vector_refresh_seconds:
            _refresh(slot, settings, engine, model)
    finally:
        slot.lock.release()
    return slot.index


def _signal(connection: Connection) -> Signal:
    """``count(*)`` and ``max(updated_at)`` of the whole table: both answered from the
    ``updated_at`` index, without reading a vector."""
    count, latest = connection.execute(
        select(func.count(), func.max(Embedding.updated_at)).select_from(Embedding)
    ).one()
    return int(count), latest


def _wanted_kind(settings: Settings, size: int) -> Literal["exact", "ann"]:
    if settings.vector_index == "auto":
        return "ann" if size >= settings.vector_ann_min_vectors else "exact"
    return settings.vector_index


def _refresh(slot: _Slot, settings: Settings, engine: Engine, model: str) -> None:
    if slot.built is not None:
        # A rebuilt index replaces whatever answered meanwhile; the rows written since its
        # snapshot are folded in just below, like any other change.
        slot.index, slot.signal = slot.built
        slot.built, slot.builder, slot.recent = None, None, {}
    with engine.connect() as connection:
        signal = _signal(connection)
        if signal != slot.signal and not _apply_changes(slot, connection, model, signal):
            _full_load(slot, settings, connection, model, signal)
    idle = slot.builder is None and time.monotonic() >= slot.retry_build_at
    if idle and _needs_rebuild(slot.index, settings):
        _start_build(slot, settings, engine, model)
    slot.checked_at = time.monotonic()


def _full_load(
    slot: _Slot, settings: Settings, connection: Connection, model: str, signal: Signal
) -> None:
    """Load every vector into an exact index: it answers at once at any size (a graph, when
    one is wanted, is built in the background)."""
    started = time.perf_counter()
    rows = load_vectors(connection, model)
    recent = _recent_stamps(connection, signal)
    index = ExactIndex(rows.ids, rows.vectors, dtype=settings.vector_dtype) if len(rows) else None
    # The index is published before the signal: a caller that sees a signal (and so does not
    # wait for the lock) must find the index that goes with it.
    slot.index, slot.recent, slot.signal = index, recent, signal
    log.info("loaded %d %s vectors in %.2f s", len(rows), model, time.perf_counter() - started)


# The stored text of updated_at (SQLite) or the driver's datetime (PostgreSQL), compared only for
# equality: skips converting every stamp of a busy minute into an aware datetime.
_STAMP = type_coerce(Embedding.updated_at, String)


def _recent_stamps(connection: Connection, signal: Signal) -> dict[int, Any]:
    """paper id → stamp of the rows inside the slack window before ``signal``'s latest."""
    if signal[1] is None:
        return {}
    rows = connection.execute(
        select(Embedding.paper_id, _STAMP).where(Embedding.updated_at >= signal[1] - REFRESH_SLACK)
    ).all()
    return {int(row[0]): row[1] for row in rows}


def _needs_rebuild(index: AnyIndex | None, settings: Settings) -> bool:
    """The overlay outgrew its limit, or an exact index reached the size of a graph."""
    if index is None:
        return False
    base = index.base if isinstance(index, OverlayIndex) else index
    limit = max(OVERLAY_REBUILD_MIN, OVERLAY_REBUILD_SHARE * len(base))
    if isinstance(index, OverlayIndex) and len(index.extra) > limit:
        return True
    return isinstance(base, ExactIndex) and _wanted_kind(settings, len(index)) == "ann"


def _start_build(slot: _Slot, settings: Settings, engine: Engine, model: str) -> None:
    """Rebuild from a fresh snapshot in a background thread (an HNSW graph of 1M vectors
    takes minutes); the current index answers until the next refresh adopts the new one."""

    def build() -> None:
        try:
            started = time.perf_counter()
            with engine.connect() as connection, connection.begin():
                # One read transaction: the signal describes exactly the rows read.
                signal = _signal(connection)
                rows = load_vectors(connection, model)
            index: ExactIndex | HnswIndex
            if _wanted_kind(settings, len(rows)) == "ann":
                index = HnswIndex(
                    rows.ids,
                    rows.vectors,
                    dtype=settings.vector_dtype,
                    ef_search=settings.vector_ann_ef_search,
                )
            else:
                index = ExactIndex(rows.ids, rows.vectors, dtype=settings.vector_dtype)
            elapsed = time.perf_counter() - started
            log.info(
                "rebuilt %s of %d %s vectors in %.1f s",
                type(index).__name__,
                len(rows),
                model,
                elapsed,
            )
            slot.built = (index, signal)
            slot.checked_at = -math.inf  # adopted by the next call
        except Exception:
            log.exception("rebuilding the %s vector index failed; the current one answers", model)
            slot.retry_build_at = time.monotonic() + BUILD_RETRY_SECONDS
            slot.builder = None

    slot.builder = threading.Thread(target=build, name=f"vector-index-{model}", daemon=True)
    slot.builder.start()


def _apply_changes(slot: _Slot, connection: Connection, model: str, signal: Signal) -> bool:
    """Fold the rows written since the last look into the index. ``False`` asks for a full
    reload: nothing loaded yet, rows deleted, or another model's vectors written.

    Two queries, both on the ``updated_at`` index: the ids and stamps of the slack window (no
    vectors; no ORDER BY, which would make SQLite walk the table in key order), then the
    vectors of the rows not seen before.
    """
    if slot.index is None or slot.signal is None or slot.signal[1] is None:
        return False
    window = connection.execute(
        select(Embedding.paper_id, _STAMP, Embedding.model).where(
            Embedding.updated_at >= slot.signal[1] - REFRESH_SLACK
        )
    ).all()
    if any(row[2] != model for row in window):
        return False
    fresh = [row[0] for row in window if slot.recent.get(row[0]) != row[1]]
    found: list[Any] = []
    for start in range(0, len(fresh), 500):
        found += connection.execute(
            select(Embedding.paper_id, Embedding.dim, Embedding.vector, _STAMP).where(
                Embedding.paper_id.in_(fresh[start : start + 500]), Embedding.model == model
            )
        ).all()
    changes = _stack(found, model)
    added = len(changes) - int(np.isin(changes.ids, slot.index.ids).sum())
    if signal[0] != slot.signal[0] + added or len(changes) < len(fresh):
        return False  # rows were deleted as well: the delta cannot say which
    if len(changes) and changes.vectors.shape[1] != slot.index.dim:
        return False
    if len(changes):
        slot.index = _merged(slot.index, changes)
    slot.signal = signal
    slot.recent = {row[0]: row[1] for row in window}
    slot.recent.update(zip(changes.ids.tolist(), changes.updated_at, strict=True))
    return True


def _merged(index: AnyIndex, changes: VectorRows) -> OverlayIndex:
    """``index`` with ``changes`` upserted, as a new object: searches in flight keep the old."""
    if isinstance(index, OverlayIndex):
        keep = ~np.isin(index.extra.ids, changes.ids)
        extra = ExactIndex(
            np.concatenate([index.extra.ids[keep], changes.ids]),
            np.concatenate([index.extra.vectors()[keep], changes.vectors]),
            dtype=index.dtype,
        )
        return OverlayIndex(index.base, extra)
    return OverlayIndex(index, ExactIndex(changes.ids, changes.vectors, dtype=index.dtype))
