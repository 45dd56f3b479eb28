"""pgvector on PostgreSQL: the migrated column and HNSW index, what the indexer writes into
it, and nearest neighbours that agree with an exact scan of the same vectors."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, inspect, select, text

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.jobs import EMBED_JOB
from dailypapers.models import Embedding, Job, Paper
from dailypapers.search import hybrid
from dailypapers.search.embed import MODEL_NAME
from dailypapers.search.pgvector_index import PgvectorIndex
from dailypapers.search.vectors import ExactIndex, load_vectors, vector_index
from dailypapers.worker import Worker

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def test_the_migration_adds_the_column_and_the_hnsw_index(search_settings: Settings) -> None:
    engine = make_engine(search_settings)
    inspector = inspect(engine)
    assert "embedding" in {c["name"] for c in inspector.get_columns("embeddings")}
    assert "ix_embeddings_hnsw" in {i["name"] for i in inspector.get_indexes("embeddings")}
    assert isinstance(vector_index(search_settings, engine, model=MODEL_NAME), PgvectorIndex)
    engine.dispose()


def test_nearest_neighbours_agree_with_an_exact_scan(search_settings: Settings) -> None:
    engine = make_engine(search_settings)
    with engine.connect() as connection:
        rows = load_vectors(connection)
    exact = ExactIndex(rows.ids, rows.vectors, dtype="float32")
    index = PgvectorIndex(engine, MODEL_NAME, ef_search=search_settings.vector_ann_ef_search)
    rng = np.random.default_rng(7)
    found = 0
    for position in rng.choice(len(rows.ids), size=20, replace=False):
        query = rows.vectors[position]
        ids, scores = index.search(query, 10)
        truth, _ = exact.search(query, 10)
        assert ids[0] == rows.ids[position]  # a paper's own vector is its nearest
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        found += len(set(ids.tolist()) & set(truth.tolist()))
    assert found / 200 >= 0.95
    # A filter keeps only permitted papers, and still finds k of them.
    allowed = rows.ids[::7]
    ids, _ = index.search(rows.vectors[0], 10, allowed)
    assert len(ids) == 10
    assert set(ids.tolist()) <= set(allowed.tolist())
    engine.dispose()


def test_the_worker_writes_the_vector_copy_and_search_uses_it(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory.begin() as session:
        paper = session.scalars(select(Paper).order_by(Paper.id).limit(1)).one()
        session.execute(delete(Embedding).where(Embedding.paper_id == paper.id))
        session.execute(delete(Job))
        jobs.enqueue(session, EMBED_JOB, {"paper_id": paper.id}, dedupe_key="embed:pg")
    assert Worker(search_settings, factory.kw["bind"], factory).run_once().done == 1
    with factory() as session:
        blob, copy = session.execute(
            text("SELECT vector, embedding::text FROM embeddings WHERE paper_id = :id"),
            {"id": paper.id},
        ).one()
        stored = np.frombuffer(blob, dtype="<f4")
        assert np.allclose(np.array(copy.strip("[]").split(","), dtype=np.float32), stored)
        results = hybrid.search(session, search_settings, paper.title, limit=5)
        assert results.semantic
        assert results.hits[0].paper_id == paper.id
        assert results.hits[0].dense_rank == 1


def test_a_search_deeper_than_ef_search_returns_k_neighbours(search_settings: Settings) -> None:
    # The dense branch looks 1,000 deep before filtering; an HNSW scan stops at ef_search
    # rows unless told otherwise, and the branch would take "fewer than asked" for "all".
    engine = make_engine(search_settings)
    with engine.connect() as connection:
        rows = load_vectors(connection)
    index = PgvectorIndex(engine, MODEL_NAME, ef_search=40)
    ids, scores = index.search(rows.vectors[0], 500)
    assert len(ids) == 500
    assert len(set(ids.tolist())) == 500
    assert np.all(np.diff(scores) <= 1e-6)
    engine.dispose()
