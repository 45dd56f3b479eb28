"""The process's vector index per database and model: loaded on first use, refreshed from the
rows that changed, and rebuilt in a background thread while the previous index answers.

Changes are looked for at most every VECTOR_REFRESH_SECONDS with ``count(*)`` +
``max(updated_at)``, both answered by the ``updated_at`` index; changed vectors go to a small
exact overlay; once it grows (or the store reaches VECTOR_ANN_MIN_VECTORS) the whole is rebuilt,
as an HNSW graph above that size. On PostgreSQL with pgvector the database's own index answers
instead, shared by every process.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import Connection, Engine, String, func, select, type_coerce

from dailypapers.models import Embedding
from dailypapers.search.embed import MODEL_NAME
from dailypapers.search.pgvector_index import PgvectorIndex, has_pgvector
from dailypapers.search.vectors.faiss_index import ExactIndex, HnswIndex, OverlayIndex
from dailypapers.search.vectors.protocol import VectorIndex
from dailypapers.search.vectors.rows import VectorRows, load_vectors, stack_rows

if TYPE_CHECKING:
    from dailypapers.config import Settings

log = logging.getLogger(__name__)

# Rows re-read before the last seen ``updated_at``: a writer that stamped its row before a
# concurrent one but committed after it is still picked up.
REFRESH_SLACK = dt.timedelta(seconds=60)
# Changed vectors kept in the exact overlay before the whole index is rebuilt: a few thousand
# rows add little to a search and a rebuild costs much more (a large graph most), so arrivals
# of a day or two wait in the overlay.
OVERLAY_REBUILD_SHARE = 0.02
OVERLAY_REBUILD_MIN = 2_000
BUILD_RETRY_SECONDS = 300.0

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
    """Rebuild from a fresh snapshot in a background thread (a large HNSW graph is slow to
    build); the current index answers until the next refresh adopts the new one."""

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
    changes = stack_rows(found, model)
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
