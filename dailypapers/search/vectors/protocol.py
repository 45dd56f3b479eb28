"""What a vector index is asked and what it answers, in memory (faiss) or in PostgreSQL."""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

# How the in-memory indexes hold their vectors (the VECTOR_DTYPE setting).
VectorDtype = Literal["float32", "float16"]


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
