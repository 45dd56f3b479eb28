"""Embedding jobs in the worker, ``index rebuild``/``status``, and a worker killed mid-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import jobs
from dailypapers.cli import main
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.jobs import EMBED_JOB
from dailypapers.models import Embedding, Job, Paper
from dailypapers.search import indexer
from dailypapers.search.embed import Embedder, content_hash, load_embedder, paper_text
from dailypapers.search.indexer import EMBED_BATCH, index_status, job_handlers
from dailypapers.worker import Worker, WorkerStats
from tests.support.database import database_env, make_settings

pytestmark = pytest.mark.both_backends


def _factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings))


def _vectors(factory: sessionmaker[Session]) -> dict[int, np.ndarray]:
    with factory() as session:
        rows = session.execute(select(Embedding.paper_id, Embedding.vector)).all()
    return {paper_id: np.frombuffer(blob, dtype=np.float32) for paper_id, blob in rows}


def _forget(factory: sessionmaker[Session], paper_ids: list[int]) -> None:
    """Drop some vectors and queue their jobs again, as a fresh load would."""
    with factory.begin() as session:
        session.execute(delete(Embedding).where(Embedding.paper_id.in_(paper_ids)))
        session.execute(delete(Job))
        arxiv = {row[0]: row[1] for row in session.execute(select(Paper.id, Paper.arxiv_id))}
        jobs.enqueue_many(
            session,
            [
                {"kind": EMBED_JOB, "payload": {"paper_id": i}, "dedupe_key": f"embed:{arxiv[i]}"}
                for i in paper_ids
            ],
        )


def test_without_a_model_embedding_jobs_wait(demo_settings: Settings) -> None:
    assert job_handlers(demo_settings) == {}
    with _factory(demo_settings)() as session:
        status = index_status(session, demo_settings)
    assert status.model is None
    assert status.embedded == 0
    assert status.pending_jobs == 783


def test_the_worker_embeds_queued_papers_in_batches_and_finishes_their_jobs(
    search_settings: Settings,
) -> None:
    factory = _factory(search_settings)
    before = _vectors(factory)
    forgotten = sorted(before)[:100]
    _forget(factory, forgotten)
    worker = Worker(search_settings, factory.kw["bind"], factory)
    stats = worker.run_once()
    # The first job of each batch is claimed; the batch finishes the others' jobs.
    assert stats.done == -(-100 // EMBED_BATCH)
    assert stats.failed == 0
    with factory() as session:
        states = session.scalars(select(Job.state).where(Job.kind == EMBED_JOB)).all()
        status = index_status(session, search_settings)
    assert set(states) == {"done"}
    assert len(states) == 100
    assert (status.embedded, status.missing, status.pending_jobs) == (783, 0, 0)
    after = _vectors(factory)
    for paper_id in forgotten:  # the same vectors, whatever the batch they were encoded in
        assert np.allclose(after[paper_id], before[paper_id], atol=1e-5)


def test_an_edited_paper_is_embedded_again_once_and_an_unchanged_one_never(
    search_settings: Settings,
) -> None:
    factory = _factory(search_settings)
    with factory.begin() as session:
        paper = session.scalars(select(Paper).order_by(Paper.id).limit(1)).one()
        paper.title = "A completely new title about protein folding"
        jobs.enqueue(session, EMBED_JOB, {"paper_id": paper.id}, dedupe_key="embed:edited")
        jobs.enqueue(session, EMBED_JOB, {"paper_id": paper.id + 1}, dedupe_key="embed:same")
        paper_id, expected = paper.id, paper_text(paper.title, paper.abstract)
    untouched = _vectors(factory)[paper_id + 1]
    Worker(search_settings, factory.kw["bind"], factory).run_once()
    with factory() as session:
        row = session.get(Embedding, paper_id)
        stamp = session.get(Embedding, paper_id + 1)
        assert row is not None
        assert stamp is not None
        assert row.content_hash == content_hash(expected)
        vector = np.frombuffer(row.vector, dtype=np.float32)
        updated_before = stamp.updated_at
    embedder = load_embedder(search_settings.resolved_model_dir)
    assert np.allclose(vector, embedder.encode_query(expected), atol=1e-5)
    assert np.array_equal(_vectors(factory)[paper_id + 1], untouched)
    # Queued again with nothing changed: no new vector is written.
    with factory.begin() as session:
        jobs.enqueue(session, EMBED_JOB, {"paper_id": paper_id}, dedupe_key="embed:again")
    Worker(search_settings, factory.kw["bind"], factory).run_once()
    with factory() as session:
        stamp = session.get(Embedding, paper_id + 1)
        assert stamp is not None
        assert stamp.updated_at == updated_before
        assert session.scalar(select(func.count()).select_from(Embedding)) == 783


def test_index_rebuild_and_status_from_the_command_line(search_settings: Settings) -> None:
    factory = _factory(search_settings)
    _forget(factory, list(range(1, 41)))
    env = {
        "DAILYPAPERS_DATA_DIR": str(search_settings.data_dir),
        **database_env(search_settings),
        "DAILYPAPERS_MODEL_DIR": str(search_settings.resolved_model_dir),
    }
    runner = CliRunner()
    status = runner.invoke(main, ["index", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "743" in status.output
    assert "40" in status.output
    rebuilt = runner.invoke(main, ["index", "rebuild"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "40 vectors written" in rebuilt.output
    again = runner.invoke(main, ["index", "rebuild"], env=env)
    assert "0 vectors written" in again.output
    with factory() as session:
        assert session.scalar(select(func.count()).where(Job.state == "queued")) == 0


def test_index_rebuild_without_a_model_says_how_to_get_one(demo_settings: Settings) -> None:
    result = CliRunner().invoke(
        main,
        ["index", "rebuild"],
        env={"DAILYPAPERS_DATA_DIR": str(demo_settings.data_dir), **database_env(demo_settings)},
    )
    assert result.exit_code != 0
    assert "model export" in result.output


def test_a_worker_killed_while_embedding_resumes_without_losing_or_repeating(
    search_settings: Settings, tmp_path: Path
) -> None:
    factory = _factory(search_settings)
    before = _vectors(factory)
    forgotten = sorted(before)[:300]
    _forget(factory, forgotten)
    settings = make_settings(
        tmp_path,
        model_dir=search_settings.resolved_model_dir,
        database_url=search_settings.database_url,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update(
        DAILYPAPERS_DATA_DIR=str(settings.data_dir),
        **database_env(settings),
        DAILYPAPERS_MODEL_DIR=str(settings.resolved_model_dir),
        DAILYPAPERS_DIGEST_ENABLED="false",
        DAILYPAPERS_WORKER_POLL_SECONDS="0.1",
        DAILYPAPERS_EMBEDDING_THREADS="1",
        DAILYPAPERS_JOB_LEASE_SECONDS="2",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "dailypapers.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_vectors(factory)) < 783 - 300 + EMBED_BATCH:
        assert worker.poll() is None, "the worker stopped before it was killed"
        assert time.monotonic() < deadline, "no batch was stored in time"
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done_at_kill = len(_vectors(factory))
    assert done_at_kill < 783, "the kill came after the work had finished"
    time.sleep(2.1)  # the killed worker's lease runs out
    rerun = subprocess.run(
        [sys.executable, "-m", "dailypapers.cli", "worker", "--once"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    after = _vectors(factory)
    assert len(after) == 783
    for paper_id in forgotten:
        assert np.allclose(after[paper_id], before[paper_id], atol=1e-5)
    with factory() as session:
        states = session.scalars(select(Job.state).where(Job.kind == EMBED_JOB)).all()
    assert set(states) == {"done"}


def test_the_int8_model_keeps_its_vectors_apart_until_papers_are_reembedded(
    search_settings: Settings,
) -> None:
    from dailypapers.search import hybrid
    from dailypapers.search.indexer import embed_papers, settings_embedder

    int8_settings = search_settings.model_copy(
        update={"embedding_int8": True, "vector_refresh_seconds": 0}
    )
    fp32, int8 = settings_embedder(search_settings), settings_embedder(int8_settings)
    assert int8.model == fp32.model + "-int8"
    texts = ["graph neural networks for molecules", "a survey of reinforcement learning"]
    assert (fp32.encode(texts) * int8.encode(texts)).sum(axis=1).min() > 0.85
    factory = _factory(int8_settings)
    with factory() as session:
        status = index_status(session, int8_settings)
        assert (status.model, status.embedded) == (int8.model, 0)
        before = hybrid.search(session, int8_settings, "robot manipulation")
    assert not before.semantic  # no int8 vectors yet: words only, never mixed models
    ids = sorted(_vectors(factory))[:20]
    assert embed_papers(factory, int8, ids).written == 20
    with factory() as session:
        models = session.scalars(select(Embedding.model).where(Embedding.paper_id.in_(ids)))
        assert set(models) == {int8.model}
        assert hybrid.search(session, int8_settings, "robot manipulation").semantic


class _EditingEmbedder:
    """The real model, with an editor who changes a paper's title while a batch is encoded
    (``times`` batches in a row)."""

    def __init__(
        self, embedder: Embedder, factory: sessionmaker[Session], paper_id: int, times: int
    ):
        self._embedder, self._factory = embedder, factory
        self.model = embedder.model
        self._paper_id, self._left = paper_id, times

    def encode(self, texts: list[str], **kw: object) -> np.ndarray:
        vectors = self._embedder.encode(texts, **kw)  # type: ignore[arg-type]
        if self._left:
            self._left -= 1
            with self._factory.begin() as session:
                paper = session.get(Paper, self._paper_id)
                assert paper is not None
                paper.title = f"Edited while encoding, round {self._left}"
        return vectors


def _edited_during_encoding(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, times: int
) -> tuple[sessionmaker[Session], int]:
    factory = _factory(settings)
    with factory.begin() as session:
        session.execute(delete(Job))
        paper = session.scalars(select(Paper).order_by(Paper.id).limit(1)).one()
        paper.title = "A new version's title"  # its vector is stale: the job must encode it
        paper_id = paper.id
        jobs.enqueue(session, EMBED_JOB, {"paper_id": paper_id}, dedupe_key="embed:racing")
    real = load_embedder(settings.resolved_model_dir)
    editing = _EditingEmbedder(real, factory, paper_id, times)
    monkeypatch.setattr(indexer, "settings_embedder", lambda _settings: editing)
    return factory, paper_id


def test_a_paper_edited_while_its_job_encodes_it_ends_with_its_new_text_vector(
    search_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, paper_id = _edited_during_encoding(search_settings, monkeypatch, times=1)
    stats = Worker(search_settings, factory.kw["bind"], factory).run_once()
    assert (stats.done, stats.failed, stats.retried) == (1, 0, 0)
    with factory() as session:
        paper = session.get(Paper, paper_id)
        row = session.get(Embedding, paper_id)
        assert paper is not None
        assert row is not None
        # The job is done only with a vector of the text the paper has now.
        assert row.content_hash == content_hash(paper_text(paper.title, paper.abstract))


def test_a_paper_that_keeps_changing_leaves_its_job_to_be_retried(
    search_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, _ = _edited_during_encoding(search_settings, monkeypatch, times=10)
    worker = Worker(search_settings, factory.kw["bind"], factory)
    assert worker.run_one(stats := WorkerStats())
    assert (stats.done, stats.retried) == (0, 1)
    with factory() as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == "embed:racing")).one()
    assert job.state == jobs.QUEUED
    assert "changed while it was encoded" in (job.last_error or "")


def test_index_status_counts_a_vector_of_an_old_text_as_stale(search_settings: Settings) -> None:
    factory = _factory(search_settings)
    with factory.begin() as session:
        paper = session.scalars(select(Paper).order_by(Paper.id).limit(1)).one()
        paper.abstract = (paper.abstract or "") + " Revised."
    with factory() as session:
        status = index_status(session, search_settings)
    assert (status.embedded, status.missing) == (782, 1)
