"""Store arXiv metadata records in bulk, idempotently (snapshot, OAI-PMH, arXiv API).

Built on SQLAlchemy Core rather than ORM objects: a bulk load must run at thousands of papers
a second (docs/benchmarks.md). Per batch, in the caller's transaction:
- records whose source hash equals the stored ``metadata_hash`` are unchanged and not touched;
- new papers are inserted with their authors, versions and an embedding job;
- changed papers are updated; a change of title, abstract, authors or categories (the
  ``content_hash``) also enqueues an embedding job (deduplicated per paper);
- a field the record does not know (None) never wipes a stored value.
The lexical index follows by trigger in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.authors.names import author_key
from dailypapers.bulk import bind_value, insert_rows, select_in
from dailypapers.db import is_sqlite
from dailypapers.ingest.normalize import ArxivRecord
from dailypapers.ingest.upsert import Outcome, content_hash
from dailypapers.jobs import EMBED_JOB
from dailypapers.models import Author, Job, Paper, PaperAuthor, PaperVersion

papers = cast(Table, Paper.__table__)
authors_table = cast(Table, Author.__table__)
paper_authors_table = cast(Table, PaperAuthor.__table__)
paper_versions_table = cast(Table, PaperVersion.__table__)
jobs_table = cast(Table, Job.__table__)
# SQLite allows 32,766 bound parameters; stay well below for IN lists.
IN_CHUNK = 900

# Merge rules for a record over a stored paper (``_merge``):
# - text the record carries replaces the stored text, with its raw form (None is a value there:
#   no LaTeX left to keep); an empty abstract or author list is "unknown" and keeps the stored;
# - the version and the revision date only move forward, the first publication date only back;
# - other fields are set when the record knows them.
_TEXT_GROUPS = (
    ("title", "title_raw"),
    ("abstract", "abstract_raw"),
    ("author_names", "authors_text"),
)
_WHEN_KNOWN = (
    "categories",
    "comments",
    "journal_ref",
    "doi",
    "license",
    "listing_date",
    "withdrawn_at",
)
CONTENT_COLUMNS = (
    *(column for group in _TEXT_GROUPS for column in group),
    *_WHEN_KNOWN,
    "version",
    "published_at",
    "revised_at",
    "content_hash",
)


@dataclass(frozen=True, slots=True)
class HashedRecord:
    record: ArxivRecord
    source_hash: str


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def record_columns(record: ArxivRecord) -> dict[str, Any]:
    """The ``papers`` column values an arXiv record sets, with its content hash."""
    return {
        "content_hash": _content_hash_of(record),
        "title": record.title,
        "title_raw": record.title_raw,
        "abstract": record.abstract,
        "abstract_raw": record.abstract_raw,
        "author_names": list(record.authors),
        "authors_text": ", ".join(record.authors),
        "version": record.version,
        "categories": list(record.categories) or None,
        "comments": record.comments,
        "journal_ref": record.journal_ref,
        "doi": record.doi,
        "license": record.license,
        "published_at": record.published_at,
        "revised_at": record.revised_at,
        "listing_date": record.listing_date,
        "withdrawn_at": record.revised_at if record.withdrawn else None,
    }


class ArxivUpserter:
    """Applies batches within each caller's session; remembers author ids across batches."""

    def __init__(self) -> None:
        # Author ids are stable once committed, so the cache outlives the batch sessions.
        self.session: Session
        self._author_ids: dict[str, int] = {}

    def stored_hashes(self, session: Session, arxiv_ids: Sequence[str]) -> dict[str, str | None]:
        """The ``metadata_hash`` of each stored paper among ``arxiv_ids``."""
        return select_in(session.connection(), papers, "arxiv_id", "metadata_hash", arxiv_ids)

    def apply(
        self, session: Session, items: Sequence[HashedRecord], now: dt.datetime
    ) -> list[Outcome]:
        """Upsert ``items`` in ``session`` (later duplicates of an id win); return outcomes."""
        self.session = session
        latest = {item.record.arxiv_id: item for item in items}
        existing = self._existing_rows(list(latest))
        outcomes: dict[str, Outcome] = {}
        inserts: list[dict[str, Any]] = []
        content_updates: list[dict[str, Any]] = []
        hash_updates: list[dict[str, Any]] = []
        author_changes: dict[str, tuple[str, ...]] = {}
        version_changes: dict[str, ArxivRecord] = {}
        to_embed: list[str] = []
        for arxiv_id, item in latest.items():
            record = item.record
            values = record_columns(record)
            row = existing.get(arxiv_id)
            if row is None:
                values.update(
                    arxiv_id=arxiv_id,
                    metadata_hash=item.source_hash,
                    categories=values["categories"] or [],
                )
                inserts.append(values)
                to_embed.append(arxiv_id)
                author_changes[arxiv_id] = record.authors
                version_changes[arxiv_id] = record
                outcomes[arxiv_id] = "new"
                continue
            merged = self._merge(row, values)
            if merged is None:
                if row.metadata_hash != item.source_hash:
                    hash_updates.append({"_id": row.id, "metadata_hash": item.source_hash})
                outcomes[arxiv_id] = "unchanged"
                continue
            if merged["content_hash"] != row.content_hash:
                to_embed.append(arxiv_id)  # a new DOI alone needs no new embedding
            merged.update(_id=row.id, metadata_hash=item.source_hash)
            content_updates.append(merged)
            if record.authors and list(record.authors) != list(row.author_names or []):
                author_changes[arxiv_id] = record.authors
            if record.versions:
                version_changes[arxiv_id] = record
            outcomes[arxiv_id] = "updated"

        ids = {arxiv_id: row.id for arxiv_id, row in existing.items()}
        if inserts:
            for values in inserts:
                values.update(created_at=now, modified_at=now, external_upvotes=0, local_upvotes=0)
            returned = insert_rows(
                self.session.connection(), papers, inserts, returning=("arxiv_id", "id")
            )
            ids.update((arxiv_id, paper_id) for arxiv_id, paper_id in returned)
        if content_updates:
            self._update(content_updates, (*CONTENT_COLUMNS, "metadata_hash"))
        if hash_updates:
            self._update(hash_updates, ("metadata_hash",))
        self._replace_authors({ids[key]: names for key, names in author_changes.items()})
        self._add_versions({ids[key]: rec for key, rec in version_changes.items()})
        self._enqueue_embeddings({key: ids[key] for key in to_embed}, now)
        # A second record of the same paper in one batch changes nothing more.
        seen: set[str] = set()
        results: list[Outcome] = []
        for item in items:
            key = item.record.arxiv_id
            results.append("unchanged" if key in seen else outcomes[key])
            seen.add(key)
        return results

    def _ids_of(self, arxiv_ids: list[str]) -> dict[str, int]:
        return select_in(self.session.connection(), papers, "arxiv_id", "id", arxiv_ids)

    def _existing_rows(self, arxiv_ids: list[str]) -> dict[str, Any]:
        # Find which exist with a cheap lookup first: in a bulk load of new papers, none do.
        present = list(self._ids_of(arxiv_ids).values())
        rows: dict[str, Any] = {}
        for chunk in _chunks(present):
            for row in self._core(select(papers).where(papers.c.id.in_(chunk))):
                rows[row.arxiv_id] = row
        return rows

    @staticmethod
    def _merge(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
        """The content columns after applying ``values`` (rules above), or None if unchanged."""
        merged = {column: getattr(row, column) for column in CONTENT_COLUMNS}
        for shown, raw in _TEXT_GROUPS:
            if values[shown]:
                merged[shown], merged[raw] = values[shown], values[raw]
        for column in _WHEN_KNOWN:
            if values[column] is not None:
                merged[column] = values[column]
        for column, pick in (("version", max), ("revised_at", max), ("published_at", min)):
            known = [v for v in (merged[column], values[column]) if v is not None]
            merged[column] = pick(known) if known else None
        merged["content_hash"] = content_hash(
            merged["title"], merged["abstract"], merged["author_names"], merged["categories"]
        )
        if all(merged[column] == getattr(row, column) for column in CONTENT_COLUMNS):
            return None
        return merged

    def _update(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        statement = (
            update(papers)
            .where(papers.c.id == bindparam("_id"))
            .values({column: bindparam(column) for column in columns})
        )
        self._core(statement, rows)

    def _core(self, statement: Any, rows: list[dict[str, Any]] | None = None) -> Any:
        """On the session's connection: Core speed, no ORM bulk bookkeeping, same transaction."""
        return self.session.connection().execute(statement, rows)

    def _ensure_authors(self, names: set[str]) -> None:
        missing = sorted(names - self._author_ids.keys())
        self._remember_author_ids(missing)
        to_insert = [
            {"name": name, "name_key": author_key(name)}
            for name in missing
            if name not in self._author_ids
        ]
        if to_insert:
            returned = insert_rows(
                self.session.connection(), authors_table, to_insert, returning=("name", "id")
            )
            self._author_ids.update((name, author_id) for name, author_id in returned)

    def _remember_author_ids(self, names: list[str]) -> None:
        connection = self.session.connection()
        self._author_ids.update(select_in(connection, authors_table, "name", "id", names))

    def _replace_authors(self, by_paper: dict[int, tuple[str, ...]]) -> None:
        """Link each paper to its authors in order, adding the authors not stored yet.

        ``by_paper`` holds the names just written to each paper's ``author_names``.
        """
        if not by_paper:
            return
        connection = self.session.connection()
        if _builds_in_sqlite(connection):
            for chunk in _chunks(list(by_paper)):
                self._core(
                    delete(paper_authors_table).where(paper_authors_table.c.paper_id.in_(chunk))
                )
            _link_authors_from_json(connection, list(by_paper))
            return
        self._ensure_authors({name for names in by_paper.values() for name in names})
        for chunk in _chunks(list(by_paper)):
            self._core(delete(paper_authors_table).where(paper_authors_table.c.paper_id.in_(chunk)))
        links = [
            {"paper_id": paper_id, "position": position, "author_id": self._author_ids[name]}
            for paper_id, names in by_paper.items()
            for position, name in enumerate(names)
        ]
        if links:
            insert_rows(self.session.connection(), paper_authors_table, links)

    def _enqueue_embeddings(self, paper_ids: dict[str, int], now: dt.datetime) -> None:
        """Queue an embedding job per paper (``{arxiv_id: paper id}``), as ``jobs.enqueue_many``."""
        if not paper_ids:
            return
        connection = self.session.connection()
        if _builds_in_sqlite(connection):
            _enqueue_embeddings_from_json(connection, list(paper_ids.values()), now)
            return
        embed = [
            {"kind": EMBED_JOB, "payload": {"paper_id": paper_id}, "dedupe_key": f"embed:{key}"}
            for key, paper_id in paper_ids.items()
        ]
        jobs.enqueue_many(self.session, embed, now=now)

    def _add_versions(self, by_paper: dict[int, ArxivRecord]) -> None:
        """Add the versions a record lists; known ones stay (sources list some, not all)."""
        rows = [
            {"paper_id": pid, "version": number, "submitted_at": created}
            for pid, rec in by_paper.items()
            for number, created in rec.versions
        ]
        insert_rows(
            self.session.connection(),
            paper_versions_table,
            rows,
            suffix="ON CONFLICT (paper_id, version) DO NOTHING",
        )


def _builds_in_sqlite(connection: Connection) -> bool:
    """Whether author links and embedding jobs are built by SQL from the stored papers.

    Elsewhere (PostgreSQL) the portable path builds them in Python; a test compares the two.
    """
    return is_sqlite(connection)


# SQLite: the links are made from each paper's stored ``author_names`` inside SQLite, which
# spares building, converting and binding several values per author link in Python
# (docs/benchmarks.md). The same rows as the portable path: new names inserted in
# code point order (SQLite's BINARY collation is UTF-8 byte order, which is code point order,
# as Python's ``sorted``), links in the order of ``paper_ids`` then position. ``?`` is a JSON
# array of paper ids, so one parameter carries the batch and its order. ``author_key`` is
# authors/names.author_key, registered on every SQLite connection (db.py).
_SQLITE_INSERT_AUTHORS = """
INSERT INTO authors (name, name_key)
SELECT DISTINCT j.value, author_key(j.value)
FROM json_each(?) AS b JOIN papers AS p ON p.id = b.value, json_each(p.author_names) AS j
WHERE NOT EXISTS (SELECT 1 FROM authors AS a WHERE a.name = j.value)
ORDER BY j.value
"""
_SQLITE_INSERT_LINKS = """
INSERT INTO paper_authors (paper_id, position, author_id)
SELECT p.id, j.key, a.id
FROM json_each(?) AS b JOIN papers AS p ON p.id = b.value, json_each(p.author_names) AS j
JOIN authors AS a ON a.name = j.value
ORDER BY b.key, j.key
"""


def _link_authors_from_json(connection: Connection, paper_ids: list[int]) -> None:
    ids = orjson.dumps(paper_ids).decode()
    connection.exec_driver_sql(_SQLITE_INSERT_AUTHORS, (ids,))
    connection.exec_driver_sql(_SQLITE_INSERT_LINKS, (ids,))


# SQLite: the embedding jobs are made from the stored papers inside SQLite, the rows that
# ``jobs.enqueue_many`` writes (its JSON payload spelled as orjson spells it, its times
# converted by the same bind processors), without a Python dict and ~7 values bound per job.
# Only a constant is interpolated; every value is bound.
_SQLITE_ENQUEUE_EMBEDDINGS = f"""
INSERT INTO jobs (kind, payload, dedupe_key, state, attempts, run_after, created_at)
SELECT ?, json_object('paper_id', p.id), 'embed:' || p.arxiv_id, ?, 0, ?, ?
FROM json_each(?) AS b JOIN papers AS p ON p.id = b.value
WHERE true
ORDER BY b.key
ON CONFLICT (dedupe_key) WHERE {jobs.PENDING_INDEX_WHERE.text} DO NOTHING
"""  # noqa: S608


def _enqueue_embeddings_from_json(
    connection: Connection, paper_ids: list[int], now: dt.datetime
) -> None:
    run_after = bind_value(connection, jobs_table, "run_after", now)
    created_at = bind_value(connection, jobs_table, "created_at", now)
    connection.exec_driver_sql(
        _SQLITE_ENQUEUE_EMBEDDINGS,
        (EMBED_JOB, jobs.QUEUED, run_after, created_at, orjson.dumps(paper_ids).decode()),
    )


def _content_hash_of(record: ArxivRecord) -> str:
    return content_hash(record.title, record.abstract, record.authors, record.categories)
