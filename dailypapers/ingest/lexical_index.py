"""Write-side settings of the lexical index (SQLite FTS5) that bulk loads adjust.

FTS5 merges its b-tree segments as rows arrive; ``automerge`` says how many segments of a level
wait before a merge (default 4). A bulk load raises it so merges happen less often and larger
(docs/benchmarks.md), then restores the default, and later writes merge the rest.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dailypapers.db import is_sqlite

DEFAULT_AUTOMERGE = 4
BULK_AUTOMERGE = 16


def set_lexical_automerge(session: Session, segments: int) -> None:
    """Persistent FTS5 setting of the ``papers_fts`` index; no-op on other databases."""
    connection = session.connection()
    if not is_sqlite(connection):
        return
    connection.exec_driver_sql(
        "INSERT INTO papers_fts(papers_fts, rank) VALUES ('automerge', ?)", (int(segments),)
    )
