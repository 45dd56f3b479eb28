"""The stored vectors read from the ``embeddings`` table, for an index to be built from."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from dailypapers.models import Embedding
from dailypapers.search.embed import MODEL_NAME

log = logging.getLogger(__name__)


@dataclass
class VectorRows:
    """Vectors of one model as read from the ``embeddings`` table, sorted by paper id."""

    ids: np.ndarray
    vectors: np.ndarray
    updated_at: list[Any] = field(default_factory=list)  # when read with their stamps

    def __len__(self) -> int:
        return len(self.ids)


def stack_rows(rows: Sequence[Any], model: str) -> VectorRows:
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
    return stack_rows(result, model)


def vector_of(session: Session, paper_id: int, model: str = MODEL_NAME) -> np.ndarray | None:
    """The stored unit vector of one paper, or ``None`` (no vector yet, or another model's)."""
    blob = session.execute(
        select(Embedding.vector).where(Embedding.paper_id == paper_id, Embedding.model == model)
    ).scalar_one_or_none()
    if blob is None:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
