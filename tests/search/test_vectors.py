"""Vector indexes: exact and HNSW search against brute force, filters, and the process cache
loading from and following the ``embeddings`` table of a real SQLite store."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.models import Embedding, Paper
from dailypapers.search import vectors
from dailypapers.search.embed import MODEL_NAME
from dailypapers.search.vectors import (
    GATHER_MAX_ROWS,
    ExactIndex,
    HnswIndex,
    OverlayIndex,
    faiss_index,
    load_vectors,
    vector_index,
    vector_of,
)
from tests.support.database import make_settings

pytestmark = pytest.mark.both_backends


DIM = 16
T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def _unit(rows: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return unit


def _random(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((count, dim)))


def _clustered(count: int, seed: int = 0, dim: int = 32) -> np.ndarray:
    """Points around 60 centres: the shape real embeddings have (and ANN is meant for)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((60, dim)))
    return _unit(centres[rng.integers(0, 60, count)] + 0.35 * rng.standard_normal((count, dim)))


def _brute(
    ids: np.ndarray,
    matrix: np.ndarray,
    query: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    scores = matrix @ query
    if allowed is not None:
        scores = np.where(np.isin(ids, allowed), scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order[np.isfinite(scores[order])]]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    vectors.reset_vector_indexes()
    yield
    vectors.reset_vector_indexes()


# ------------------------------------------------------------------------------- ExactIndex


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_exact_top_k_is_the_brute_force_top_k(dtype: vectors.VectorDtype) -> None:
    rng = np.random.default_rng(1)
    matrix = _random(2000, seed=1)
    ids = rng.permutation(np.arange(10, 10 + 5 * 2000, 5))  # unsorted, gappy paper ids
    index = ExactIndex(ids, matrix, dtype=dtype)
    assert len(index) == 2000
    assert np.array_equal(index.ids, np.sort(ids))
    for query in _random(20, seed=2):
        found, scores = index.search(query, 10)
        want = _brute(ids, matrix, query, 10)
        if dtype == "float32":
            assert found.tolist() == want.tolist()
        else:  # float16 may swap near-ties only
            assert len(set(found.tolist()) & set(want.tolist())) >= 9
        assert found.dtype == np.int64
        assert scores.dtype == np.float32
        assert np.all(np.diff(scores) <= 1e-6), "best first"
        by_id = dict(zip(ids.tolist(), (matrix @ query).tolist(), strict=True))
        assert np.allclose(scores, [by_id[i] for i in found.tolist()], atol=2e-3)


def test_float16_ranks_like_float32() -> None:
    matrix = _clustered(3000, seed=3)
    ids = np.arange(3000)
    half = ExactIndex(ids, matrix, dtype="float16")
    full = ExactIndex(ids, matrix, dtype="float32")
    overlap = []
    for query in _clustered(50, seed=4):
        half_ids, half_scores = half.search(query, 10)
        full_ids, full_scores = full.search(query, 10)
        overlap.append(len(set(half_ids.tolist()) & set(full_ids.tolist())))
        assert np.max(np.abs(half_scores - full_scores)) < 2e-3
    assert np.mean(overlap) >= 9.8


@pytest.mark.parametrize("share", [0.01, 0.5])  # a gather of a few rows, a bitmap scan
def test_exact_allowed_restricts_the_search(share: float) -> None:
    rng = np.random.default_rng(5)
    matrix = _random(3000, seed=5)
    ids = np.arange(1, 3001) * 2
    index = ExactIndex(ids, matrix)
    allowed = np.sort(rng.choice(ids, int(share * 3000), replace=False))
    assert (len(allowed) <= GATHER_MAX_ROWS) == (share < 0.1)
    for query in _random(10, seed=6):
        found, _ = index.search(query, 10, allowed)
        assert set(found.tolist()) <= set(allowed.tolist())
        assert len(set(found.tolist()) & set(_brute(ids, matrix, query, 10, allowed))) >= 9


def test_allowed_may_be_unsorted_repeated_or_unknown() -> None:
    matrix = _random(100, seed=7)
    ids = np.arange(100) + 1000
    index = ExactIndex(ids, matrix, dtype="float32")
    query = matrix[42]
    allowed = np.array([1042, 5, 1003, 1042, 99_999, 1001])
    found, scores = index.search(query, 10, allowed)
    assert found[0] == 1042
    assert sorted(found.tolist()) == [1001, 1003, 1042]
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(index.search(query, 10, np.array([], dtype=np.int64))[0]) == 0
    assert len(index.search(query, 10, np.array([7, 8]))[0]) == 0


def test_empty_index_and_small_k() -> None:
    empty = ExactIndex(np.empty(0, dtype=np.int64), np.empty((0, DIM), dtype=np.float32))
    assert len(empty) == 0
    found, scores = empty.search(_random(1)[0], 10)
    assert len(found) == len(scores) == 0
    assert len(empty.search(_random(1)[0], 10, np.array([1, 2]))[0]) == 0
    index = ExactIndex(np.array([3, 1, 2]), _random(3))
    assert sorted(index.search(_random(1, seed=9)[0], 10)[0].tolist()) == [1, 2, 3]
    assert len(index.search(_random(1)[0], 0)[0]) == 0


def test_bad_input_is_refused() -> None:
    index = ExactIndex(np.arange(5), _random(5))
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.ones(DIM + 1, dtype=np.float32), 3)
    with pytest.raises(ValueError, match="unique"):
        ExactIndex(np.array([2, 1, 2]), _random(3))


# -------------------------------------------------------------------------------- HnswIndex


def test_hnsw_recall_against_exact_on_clustered_vectors() -> None:
    matrix = _clustered(4000, seed=10)
    ids = np.arange(4000) * 3 + 7
    exact = ExactIndex(ids, matrix, dtype="float32")
    graph = HnswIndex(ids, matrix, ef_search=64)
    queries = _clustered(100, seed=11)
    hits = [
        len(set(graph.search(q, 10)[0].tolist()) & set(exact.search(q, 10)[0].tolist()))
        for q in queries
    ]
    assert np.mean(hits) / 10 >= 0.95


@pytest.mark.parametrize("share", [0.005, 0.1, 0.3])
def test_hnsw_allowed_restricts_the_search(share: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # At this size every filter would be scored exactly: make the wider ones walk the graph.
    monkeypatch.setattr(faiss_index, "FILTER_EXACT_ROWS", 100)
    rng = np.random.default_rng(12)
    matrix = _clustered(4000, seed=12)
    ids = np.arange(4000)
    exact = ExactIndex(ids, matrix, dtype="float32")
    graph = HnswIndex(ids, matrix)
    allowed = np.sort(rng.choice(ids, int(share * 4000), replace=False))
    hits = []
    for query in _clustered(50, seed=13):
        found, _ = graph.search(query, 10, allowed)
        want, _ = exact.search(query, 10, allowed)
        assert set(found.tolist()) <= set(allowed.tolist())
        assert len(found) == 10
        hits.append(len(set(found.tolist()) & set(want.tolist())))
    assert np.mean(hits) / 10 >= 0.95


def test_overlay_finds_a_changed_vector_by_its_new_value_only() -> None:
    matrix = _clustered(1000, seed=14)
    ids = np.arange(1000)
    graph = HnswIndex(ids, matrix)
    old, new = matrix[10].copy(), matrix[500].copy()
    changed = OverlayIndex(graph, ExactIndex(np.array([10, 5000]), np.stack([new, old])))
    assert len(changed) == 1001
    assert 5000 in changed.ids.tolist()
    found, _ = changed.search(old, 3)
    assert found[0] == 5000
    assert 10 not in found.tolist()[:1]
    found, _ = changed.search(new, 2)
    assert set(found.tolist()) == {10, 500}
    assert changed.search(old, 5, np.array([10]))[0].tolist() == [10]
    assert 10 in graph.search(old, 1)[0].tolist(), "the graph itself is unchanged"


# ------------------------------------------------------------------- the store and the cache


def _put(
    session_factory: sessionmaker[Session],
    ids: list[int],
    matrix: np.ndarray,
    when: dt.datetime,
    model: str = MODEL_NAME,
) -> None:
    with session_factory.begin() as session:
        known = {paper.id for paper in session.query(Paper).filter(Paper.id.in_(ids))}
        for paper_id in ids:
            if paper_id not in known:
                session.add(
                    Paper(
                        id=paper_id,
                        arxiv_id=f"2601.{paper_id:05d}",
                        title=f"Paper {paper_id}",
                        content_hash=f"h{paper_id}",
                    )
                )
        session.flush()
        for paper_id, vector in zip(ids, matrix, strict=True):
            session.merge(
                Embedding(
                    paper_id=paper_id,
                    model=model,
                    dim=len(vector),
                    content_hash=f"v{paper_id}",
                    vector=np.asarray(vector, dtype="<f4").tobytes(),
                    updated_at=when,
                )
            )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Settings, Engine, sessionmaker[Session]]]:
    settings = make_settings(
        tmp_path, vector_refresh_seconds=0, vector_index="exact", vector_dtype="float32"
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield settings, engine, make_session_factory(engine)
    engine.dispose()


def test_no_vectors_means_no_index(store: tuple[Settings, Engine, sessionmaker[Session]]) -> None:
    settings, engine, factory = store
    assert vector_index(settings, engine) is None
    _put(factory, [1, 2], _random(2), T0, model="another-model")
    assert vector_index(settings, engine) is None


def test_loads_one_model_and_follows_new_changed_and_deleted_vectors(
    store: tuple[Settings, Engine, sessionmaker[Session]],
) -> None:
    settings, engine, factory = store
    matrix = _random(60, seed=20)
    _put(factory, list(range(1, 51)), matrix[:50], T0)
    index = vector_index(settings, engine)
    assert index is not None
    assert index.ids.tolist() == list(range(1, 51))
    assert index.search(matrix[7], 1)[0].tolist() == [8]
    assert vector_index(settings, engine) is index, "nothing changed: the same object"

    _put(factory, list(range(51, 61)), matrix[50:], T0 + dt.timedelta(minutes=5))
    index = vector_index(settings, engine)
    assert index is not None
    assert len(index) == 60
    assert index.search(matrix[55], 1)[0].tolist() == [56]

    moved = _random(1, seed=21)[0]  # paper 3 re-embedded after an edit
    _put(factory, [3], moved[None], T0 + dt.timedelta(minutes=10))
    index = vector_index(settings, engine)
    assert index is not None
    assert len(index) == 60
    assert index.search(moved, 1)[0].tolist() == [3]
    assert 3 not in index.search(matrix[2], 1)[0].tolist()

    with factory.begin() as session:
        session.execute(delete(Paper).where(Paper.id == 60))  # the vector goes with it
    index = vector_index(settings, engine)
    assert index is not None
    assert len(index) == 59
    assert 60 not in index.ids.tolist()
    assert index.search(moved, 1)[0].tolist() == [3], "the reload kept the new vector"


def test_a_late_commit_with_an_older_stamp_is_still_seen(
    store: tuple[Settings, Engine, sessionmaker[Session]],
) -> None:
    settings, engine, factory = store
    matrix = _random(3, seed=22)
    _put(factory, [1, 2], matrix[:2], T0 + dt.timedelta(seconds=30))
    assert vector_index(settings, engine) is not None
    with factory.begin() as session:  # stamped before the latest row, committed after it
        session.execute(
            update(Embedding)
            .where(Embedding.paper_id == 1)
            .values(vector=matrix[2].tobytes(), updated_at=T0 + dt.timedelta(seconds=10))
        )
    _put(factory, [3], matrix[:1], T0 + dt.timedelta(seconds=40))
    index = vector_index(settings, engine)
    assert index is not None
    assert index.search(matrix[2], 1)[0].tolist() == [1]


def test_refresh_waits_for_the_interval(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, vector_refresh_seconds=3600)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    _put(factory, [1], _random(1), T0)
    first = vector_index(settings, engine)
    _put(factory, [2], _random(1, seed=1), T0 + dt.timedelta(seconds=1))
    assert vector_index(settings, engine) is first
    engine.dispose()


def test_auto_builds_a_graph_in_the_background_above_the_threshold(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, vector_refresh_seconds=0, vector_index="auto", vector_ann_min_vectors=500
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    matrix = _clustered(700, seed=30)
    _put(factory, list(range(1, 401)), matrix[:400], T0)
    assert isinstance(vector_index(settings, engine), ExactIndex)
    _put(factory, list(range(401, 601)), matrix[400:600], T0 + dt.timedelta(minutes=1))
    index = vector_index(settings, engine)
    assert isinstance(index, OverlayIndex)
    assert len(index) == 600  # an exact scan answers while the graph builds
    deadline = time.monotonic() + 60
    while not isinstance(index, HnswIndex) and time.monotonic() < deadline:
        time.sleep(0.05)
        index = vector_index(settings, engine)
    assert isinstance(index, HnswIndex)
    assert len(index) == 600
    _put(factory, list(range(601, 701)), matrix[600:], T0 + dt.timedelta(minutes=2))
    index = vector_index(settings, engine)
    assert isinstance(index, OverlayIndex)
    assert len(index) == 700
    assert index.search(matrix[650], 1)[0].tolist() == [651]
    engine.dispose()


def test_load_vectors_and_vector_of(store: tuple[Settings, Engine, sessionmaker[Session]]) -> None:
    _settings, _engine, factory = store
    matrix = _random(5, seed=40)
    _put(factory, [5, 3, 9, 1, 7], matrix, T0)
    _put(factory, [11], _random(1, dim=8), T0, model="another-model")
    with factory() as session:
        rows = load_vectors(session)
        assert rows.ids.tolist() == [1, 3, 5, 7, 9]
        assert np.array_equal(rows.vectors[2], matrix[0])
        one = vector_of(session, 9)
        assert one is not None
        assert np.array_equal(one, matrix[2])
        assert vector_of(session, 11) is None
        assert vector_of(session, 404) is None


def test_concurrent_first_calls_share_one_load(
    store: tuple[Settings, Engine, sessionmaker[Session]],
) -> None:
    settings, engine, factory = store
    _put(factory, list(range(1, 201)), _random(200, seed=50), T0)
    start = threading.Barrier(8)
    found: list[object] = []

    def call() -> None:
        start.wait()
        found.append(vector_index(settings, engine))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert all(index is found[0] and index is not None for index in found)
