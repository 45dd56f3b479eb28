"""Keeping the ``embeddings`` table in step with the papers: the worker's ``embed_paper`` jobs,
``dailypapers index rebuild`` and ``index status``.

A vector is keyed by the hash of the text it was computed from (``embed.content_hash``): an
unchanged paper is never encoded twice, a new version is encoded once. The model runs outside
any transaction (a batch takes about a second); the write transaction that follows re-reads
each paper and stores only vectors whose text is still current, so a paper edited meanwhile
keeps its job and is encoded again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.db import session_scope, upsert_insert
from dailypapers.jobs import EMBED_JOB, JobContext
from dailypapers.models import Embedding, Job, Paper, utcnow
from dailypapers.search.embed import (
    INT8_MODEL_FILE,
    MANIFEST_NAME,
    MODEL_FILE,
    Embedder,
    ModelUnavailableError,
    content_hash,
    load_embedder,
    paper_text,
)
from dailypapers.search.pgvector_index import has_pgvector, write_embedding_copies

# Papers encoded together: one ONNX call pads to the longest text of the batch, and texts are
# sorted by length inside it; a larger batch was no faster per paper (docs/benchmarks.md).
EMBED_BATCH = 32
# Times an embed job re-encodes its paper when the paper was edited during encoding.
CHANGED_RETRIES = 2


def model_available(settings: Settings) -> bool:
    folder = settings.resolved_model_dir
    return (folder / model_file(settings)).exists() and (folder / MANIFEST_NAME).exists()


def settings_embedder(settings: Settings) -> Embedder:
    """The process's embedder; raises ModelUnavailableError when nothing was exported."""
    return load_embedder(
        settings.resolved_model_dir,
        threads=settings.embedding_threads,
        model_file=model_file(settings),
    )


def model_file(settings: Settings) -> str:
    return INT8_MODEL_FILE if settings.embedding_int8 else MODEL_FILE


@dataclass(frozen=True)
class _Text:
    paper_id: int
    text: str
    key: str


def _texts(session: Session, paper_ids: Iterable[int], model: str) -> dict[int, _Text]:
    ids = sorted(set(paper_ids))
    found: dict[int, _Text] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Paper.id, Paper.title, Paper.abstract).where(
                Paper.id.in_(ids[start : start + 500])
            )
        )
        for paper_id, title, abstract in rows:
            text = paper_text(title, abstract)
            found[paper_id] = _Text(paper_id, text, content_hash(text, model))
    return found


def _stored_keys(session: Session, paper_ids: Sequence[int], model: str) -> dict[int, str]:
    stored: dict[int, str] = {}
    for start in range(0, len(paper_ids), 500):
        rows = session.execute(
            select(Embedding.paper_id, Embedding.content_hash).where(
                Embedding.paper_id.in_(paper_ids[start : start + 500]), Embedding.model == model
            )
        )
        stored.update({row[0]: row[1] for row in rows})
    return stored


def _store(session: Session, items: Sequence[_Text], vectors: np.ndarray, model: str) -> None:
    insert = upsert_insert(session)
    now = utcnow()
    rows = [
        {
            "paper_id": item.paper_id,
            "model": model,
            "dim": int(vector.shape[0]),
            "content_hash": item.key,
            "vector": np.asarray(vector, dtype="<f4").tobytes(),
            "updated_at": now,
        }
        for item, vector in zip(items, vectors, strict=True)
    ]
    statement = insert(Embedding).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["paper_id"],
            set_={
                column: getattr(statement.excluded, column)
                for column in ("model", "dim", "content_hash", "vector", "updated_at")
            },
        )
    )
    if has_pgvector(session.connection()):
        # The copy pgvector's HNSW index reads (pgvector_index.py).
        write_embedding_copies(
            session,
            [(item.paper_id, vector) for item, vector in zip(items, vectors, strict=True)],
        )


@dataclass(frozen=True)
class EmbedOutcome:
    written: int
    changed: frozenset[int]


class PaperChangedError(RuntimeError):
    """The paper kept changing while it was encoded; the job is retried later."""


def embed_papers(
    factory: sessionmaker[Session],
    embedder: Embedder,
    paper_ids: Iterable[int],
    *,
    finish_jobs: Sequence[int] = (),
) -> EmbedOutcome:
    """Encode the papers among ``paper_ids`` whose vector is missing or stale. ``finish_jobs``:
    queued embed jobs of these papers, marked done in the same transaction as the vectors of
    papers that were current (their work is done). Papers edited while they were encoded get no
    vector and keep their jobs (``changed``)."""
    with session_scope(factory) as session:
        texts = _texts(session, paper_ids, embedder.model)
        stored = _stored_keys(session, sorted(texts), embedder.model)
    todo = [item for item in texts.values() if stored.get(item.paper_id) != item.key]
    vectors = embedder.encode([item.text for item in todo]) if todo else None
    with session_scope(factory, write=True) as session:
        current = _texts(session, [item.paper_id for item in todo], embedder.model)
        keep = [i for i, item in enumerate(todo) if current.get(item.paper_id) == item]
        if keep and vectors is not None:
            _store(session, [todo[i] for i in keep], vectors[keep], embedder.model)
        changed = {item.paper_id for item in todo} - {todo[i].paper_id for i in keep}
        if finish_jobs:
            _finish_jobs(session, finish_jobs, changed)
    return EmbedOutcome(written=len(keep), changed=frozenset(changed))


def _finish_jobs(session: Session, job_ids: Sequence[int], changed: set[int]) -> None:
    """Mark queued embed jobs done, except those of papers edited while they were encoded."""
    rows = session.execute(select(Job.id, Job.payload).where(Job.id.in_(job_ids)))
    done = [job_id for job_id, payload in rows if payload.get("paper_id") not in changed]
    if done:
        session.execute(
            update(Job)
            .where(Job.id.in_(done), Job.state == jobs.QUEUED)
            .values(state=jobs.DONE, finished_at=utcnow())
        )


def _queued_embed_jobs(session: Session, now: dt.datetime, limit: int) -> list[tuple[int, int]]:
    """(job id, paper id) of embed jobs waiting their turn, oldest first."""
    rows = session.execute(
        select(Job.id, Job.payload)
        .where(Job.kind == EMBED_JOB, Job.state == jobs.QUEUED, Job.run_after <= now)
        .order_by(Job.id)
        .limit(limit)
    )
    return [(job_id, int(payload["paper_id"])) for job_id, payload in rows if "paper_id" in payload]


def run_embed_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler of ``embed_paper``: this paper and up to a batch of other queued ones
    are encoded together (one job at a time would run the model at batch size 1, much slower);
    the jobs of the others are finished with their vectors."""
    embedder = settings_embedder(context.settings)
    with session_scope(context.factory) as session:
        others = _queued_embed_jobs(session, context.now, EMBED_BATCH - 1)
    primary = int(payload["paper_id"])
    paper_ids = [primary, *(paper_id for _, paper_id in others)]
    outcome = embed_papers(
        context.factory, embedder, paper_ids, finish_jobs=[job_id for job_id, _ in others]
    )
    # The worker marks this job done when the handler returns: its paper must have a vector
    # of its current text by then, so an edit during encoding means encoding it again.
    for _ in range(CHANGED_RETRIES):
        if primary not in outcome.changed:
            return
        outcome = embed_papers(context.factory, embedder, [primary])
    if primary in outcome.changed:
        raise PaperChangedError(f"paper {primary} changed while it was encoded")


HANDLERS: dict[str, jobs.Handler] = {EMBED_JOB: run_embed_job}


def job_handlers(settings: Settings) -> dict[str, jobs.Handler]:
    """``HANDLERS`` only when the model is exported: without it the jobs wait (the worker
    claims only kinds it has a handler for) and search stays lexical."""
    return dict(HANDLERS) if model_available(settings) else {}


@dataclass(frozen=True)
class IndexStatus:
    papers: int
    embedded: int
    other_model: int
    pending_jobs: int
    failed_jobs: int
    model: str | None
    model_dir: str

    @property
    def missing(self) -> int:
        """Visible papers without a vector of their current text (missing or stale)."""
        return self.papers - self.embedded


def index_status(session: Session, settings: Settings) -> IndexStatus:
    """Counts for ``dailypapers index status``. "Embedded" counts visible papers whose vector
    of the current model was computed from their current text (hashing every paper's text,
    which a status command can afford); a stale one is re-encoded by its pending job."""
    model = None
    if model_available(settings):
        try:
            model = settings_embedder(settings).model
        except ModelUnavailableError:
            model = None
    visible = Paper.hidden_at.is_(None)
    papers = session.scalar(select(func.count()).select_from(Paper).where(visible)) or 0
    by_model = dict(
        session.execute(
            select(Embedding.model, func.count())
            .join(Paper, Paper.id == Embedding.paper_id)
            .where(visible)
            .group_by(Embedding.model)
        ).all()
    )
    embedded = 0
    if model:
        stale = len(stale_papers(session, model, visible_only=True))
        embedded = papers - stale
    job_counts = dict(
        session.execute(
            select(Job.state, func.count()).where(Job.kind == EMBED_JOB).group_by(Job.state)
        ).all()
    )
    return IndexStatus(
        papers=papers,
        embedded=embedded,
        other_model=sum(count for name, count in by_model.items() if name != model),
        pending_jobs=int(job_counts.get(jobs.QUEUED, 0)) + int(job_counts.get(jobs.RUNNING, 0)),
        failed_jobs=int(job_counts.get(jobs.FAILED, 0)),
        model=model,
        model_dir=str(settings.resolved_model_dir),
    )


def stale_papers(session: Session, model: str, *, visible_only: bool = False) -> list[int]:
    """Ids of papers whose vector of ``model`` is missing or was computed from another text
    (hidden papers too unless ``visible_only``: moderation may show them again)."""
    stored = dict(
        session.execute(
            select(Embedding.paper_id, Embedding.content_hash).where(Embedding.model == model)
        ).all()
    )
    statement = select(Paper.id, Paper.title, Paper.abstract).order_by(Paper.id)
    if visible_only:
        statement = statement.where(Paper.hidden_at.is_(None))
    stale: list[int] = []
    for paper_id, title, abstract in session.execute(statement):
        if stored.get(paper_id) != content_hash(paper_text(title, abstract), model):
            stale.append(paper_id)
    return stale


def rebuild_index(
    factory: sessionmaker[Session],
    embedder: Embedder,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    batch_size: int = EMBED_BATCH * 8,
) -> int:
    """Encode every paper whose vector is missing or stale, committing batch by batch (a killed
    rebuild resumes where it stopped); their queued embed jobs are finished too. Returns the
    number of vectors written. ``on_progress(done, total)`` after each batch."""
    with session_scope(factory) as session:
        todo = stale_papers(session, embedder.model)
        queued = _queued_embed_jobs(session, utcnow(), 10_000_000)
    jobs_of: dict[int, list[int]] = {}
    for job_id, paper_id in queued:
        jobs_of.setdefault(paper_id, []).append(job_id)
    written = 0
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        finish = [job_id for paper_id in chunk for job_id in jobs_of.get(paper_id, [])]
        written += embed_papers(factory, embedder, chunk, finish_jobs=finish).written
        if on_progress is not None:
            on_progress(min(start + batch_size, len(todo)), len(todo))
    return written
