"""Vectors computed once for the benchmarks, kept outside git and keyed by content hash.

Embedding the 75k corpus takes about 1.5 hours on 2 cores; every benchmark and evaluation run
after the first takes its vectors from here. The key is ``embed.content_hash``: the model name
and the exact text, so a changed text or another model never reuses a stale vector.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

CACHE_DIR = Path(
    os.environ.get("DAILYPAPERS_BENCH_CACHE", Path(__file__).parent / ".cache")
).resolve()


class VectorCache:
    """A small SQLite file of (content hash, float32 vector); one file per model and variant."""

    def __init__(self, name: str, dim: int, folder: Path = CACHE_DIR) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"vectors-{name}.sqlite3"
        self.dim = dim
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL)"
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def known(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT hash FROM vectors")}

    def get_many(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, pairs: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store and commit at once: a killed run keeps every batch it finished."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                ((key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in pairs),
            )

    def close(self) -> None:
        self._db.close()
