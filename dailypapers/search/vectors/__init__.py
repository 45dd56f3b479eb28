"""Nearest neighbours of a query vector among the papers' embeddings (DESIGN.md §2, §4).

One small protocol (``protocol.VectorIndex``) and its implementations: in memory on faiss
(``faiss_index``: an exact scan, an HNSW graph for large stores, an overlay of recent changes),
and in PostgreSQL with pgvector (``search/pgvector_index.py``). ``cache.vector_index`` is the one
place an index is chosen (pgvector when the database has it, otherwise by size or the
VECTOR_INDEX setting) and keeps the in-memory one per database and model, refreshed and rebuilt
in the background; ``rows`` reads the stored vectors.
"""

from __future__ import annotations

from dailypapers.search.vectors.cache import reset_vector_indexes, vector_index
from dailypapers.search.vectors.faiss_index import (
    FILTER_EXACT_ROWS,
    FILTER_EXACT_SHARE,
    FILTER_WIDEN,
    GATHER_MAX_ROWS,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    ExactIndex,
    HnswIndex,
    OverlayIndex,
)
from dailypapers.search.vectors.protocol import VectorDtype, VectorIndex
from dailypapers.search.vectors.rows import VectorRows, load_vectors, vector_of

__all__ = [
    "FILTER_EXACT_ROWS",
    "FILTER_EXACT_SHARE",
    "FILTER_WIDEN",
    "GATHER_MAX_ROWS",
    "HNSW_EF_CONSTRUCTION",
    "HNSW_M",
    "ExactIndex",
    "HnswIndex",
    "OverlayIndex",
    "VectorDtype",
    "VectorIndex",
    "VectorRows",
    "load_vectors",
    "reset_vector_indexes",
    "vector_index",
    "vector_of",
]
