"""Vector search inside PostgreSQL with pgvector (migration 0007), when the server has it.

Every web process and worker then shares one HNSW index kept by the database, instead of each
process loading every vector into memory (``vectors/``, still used on SQLite and on a
PostgreSQL without pgvector). The ``embeddings.vector`` bytes stay the source of truth; the
``embedding`` column is a copy written beside them (``indexer._store``), and the HNSW index
covers the 384-dimensional rows through an expression, so other sizes simply are not indexed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from dailypapers.db import is_sqlite

# The embedding model's size; the HNSW index of migration 0007 is built for it.
INDEXED_DIM = 384
# pgvector's largest hnsw.ef_search.
MAX_EF_SEARCH = 1000
# Migration 0007's index; a bulk load drops it, fills the column and builds it once, which
# is much faster than growing the graph row by row.
HNSW_INDEX = (
    "CREATE INDEX ix_embeddings_hnsw ON embeddings USING hnsw "
    f"((embedding::vector({INDEXED_DIM})) vector_cosine_ops) WHERE dim = {INDEXED_DIM}"
)
_known: dict[str, bool] = {}
_known_lock = threading.Lock()


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, ``[0.1,0.2,...]`` (float32 values round-trip exactly with repr)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


def has_pgvector(connection: Connection | Engine) -> bool:
    """Whether this PostgreSQL database has the ``embeddings.embedding`` column (once per URL)."""
    if is_sqlite(connection):
        return False
    engine = connection if isinstance(connection, Engine) else connection.engine
    key = engine.url.render_as_string(hide_password=False)
    with _known_lock:
        if key in _known:
            return _known[key]

    def probe(conn: Connection) -> bool:
        return bool(
            conn.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
                    " WHERE table_name = 'embeddings' AND column_name = 'embedding')"
                )
            ).scalar()
        )

    if isinstance(connection, Engine):
        with connection.connect() as conn:
            found = probe(conn)
    else:
        found = probe(connection)
    with _known_lock:
        _known[key] = found
    return found


def fill_embedding_column(connection: Connection, *, batch: int = 2000) -> int:
    """Copy every vector whose ``embedding`` is missing from its bytes (migration 0007, and a
    database restored from a dump of the bytes only); returns how many were copied."""
    copied = 0
    while True:
        rows = connection.execute(
            text(
                "SELECT paper_id, vector FROM embeddings WHERE embedding IS NULL"
                " ORDER BY paper_id LIMIT :batch"
            ),
            {"batch": batch},
        ).all()
        if not rows:
            return copied
        write_embedding_copies(
            connection, [(paper_id, np.frombuffer(blob, dtype="<f4")) for paper_id, blob in rows]
        )
        copied += len(rows)


def write_embedding_copies(
    connection: Connection | Session, vectors: Sequence[tuple[int, np.ndarray]]
) -> None:
    """Write the ``embedding`` copy of these papers' vectors (the bytes stay the truth)."""
    connection.execute(
        text("UPDATE embeddings SET embedding = CAST(:v AS vector) WHERE paper_id = :id"),
        [{"id": paper_id, "v": vector_literal(vector)} for paper_id, vector in vectors],
    )


def forget_pgvector_probes() -> None:
    """Forget the cached answers (after a migration in the same process)."""
    with _known_lock:
        _known.clear()


class PgvectorIndex:
    """The ``VectorIndex`` protocol answered by SQL over the HNSW index."""

    def __init__(self, engine: Engine, model: str, ef_search: int) -> None:
        self.engine = engine
        self.model = model
        self.ef_search = ef_search

    @property
    def ids(self) -> np.ndarray:
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT paper_id FROM embeddings WHERE model = :model"
                    " AND embedding IS NOT NULL ORDER BY paper_id"
                ),
                {"model": self.model},
            ).scalars()
            return np.fromiter(rows, dtype=np.int64)

    def __len__(self) -> int:
        with self.engine.connect() as connection:
            # Only "is there any searchable vector": counting every row would cost a scan per
            # search, and rows of another size are not in the HNSW index.
            found = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM embeddings WHERE model = :model"
                    " AND dim = :dim AND embedding IS NOT NULL LIMIT 1) AS one"
                ),
                {"model": self.model, "dim": INDEXED_DIM},
            ).scalar()
            return int(found or 0)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest ``k`` by cosine. With ``allowed``, pgvector's iterative scan keeps walking
        the graph until enough permitted rows are found (a plain filter after an HNSW scan of
        ef_search rows could return almost none)."""
        if k <= 0 or query.shape[0] != INDEXED_DIM:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        distance = f"embedding::vector({INDEXED_DIM}) <=> CAST(:query AS vector({INDEXED_DIM}))"
        where = "model = :model AND dim = :dim AND embedding IS NOT NULL"
        params: dict[str, Any] = {
            "query": vector_literal(query),
            "model": self.model,
            "dim": INDEXED_DIM,
            "k": k,
        }
        if allowed is not None:
            where += " AND paper_id = ANY(:allowed)"
            params["allowed"] = [int(i) for i in allowed]
        statement = text(
            f"SELECT paper_id, 1 - ({distance}) AS cosine FROM embeddings"  # noqa: S608
            f" WHERE {where} ORDER BY {distance} LIMIT :k"
        )
        # An HNSW scan returns at most ef_search rows: a search for more widens it (pgvector
        # allows up to 1,000), and past that, or with a filter, scans on iteratively.
        ef_search = min(max(self.ef_search, k), MAX_EF_SEARCH)
        with self.engine.begin() as connection:
            connection.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
            if allowed is not None or k > MAX_EF_SEARCH:
                connection.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            rows = list(connection.execute(statement, params).all())
        rows.sort(key=lambda row: -row[1])  # relaxed order: sort the few rows returned
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        scores = np.fromiter((row[1] for row in rows), dtype=np.float32, count=len(rows))
        return ids, scores
