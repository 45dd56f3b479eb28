"""Importing a citation file into a library: match each entry to the store, save what matched,
fetch what the store lacks from arXiv, and give every entry an outcome (issue 17).

An entry with an arXiv id is matched by that id (canonical, version-less ``Paper.arxiv_id``);
one without is matched by exact ``normalized_title`` among the papers the lexical index finds
for its title's words as one phrase. An id the store lacks is fetched from arXiv by the
``library_fetch`` job (never when the site is OFFLINE); until then its outcome is ``pending``.

A file of at most ``INLINE_LIMIT`` entries is matched in the caller's transaction; a larger
one by the ``library_import`` job, ``CHUNK_SIZE`` entries a transaction, ``processed``
advancing with each commit, so a re-run after a crash goes on where the last commit left off.
``state`` goes ``matching`` → ``fetching`` (only when something is to fetch) → ``done``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.citations import (
    CitationEntry,
    CitationFileError,
    UnparseableEntry,
    normalized_title,
    parse_file,
)
from dailypapers.config import Settings
from dailypapers.db import session_scope, write_transaction
from dailypapers.ingest.http import SourceUnavailableError
from dailypapers.ingest.run import apply_arxiv_batch, make_client
from dailypapers.ingest.sources.arxiv_api import fetch_api_pages
from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import ArxivRaw, SourceFormatError
from dailypapers.ingest.upsert import IngestStats
from dailypapers.ingest.upsert_arxiv import ArxivUpserter
from dailypapers.jobs import LIBRARY_FETCH_JOB, LIBRARY_IMPORT_JOB, JobContext
from dailypapers.library import LibraryError, NotFoundError
from dailypapers.library.collections import add_to_collection, collection_named, create_collection
from dailypapers.library.restore import LIBRARY_JSON, library_json, restore_row, restore_rows
from dailypapers.library.saves import save_many, set_note
from dailypapers.models import LibraryImport, Note, Paper, User
from dailypapers.search.lexical import matching
from dailypapers.search.query import ParsedQuery, Term

log = logging.getLogger(__name__)

INLINE_LIMIT = 500  # entries matched in the request; more go to the library_import job
CHUNK_SIZE = 500  # entries matched per transaction of the job
FETCH_BATCH = 100  # arXiv ids per API request (arXiv answers up to 2,000 a page)
TITLE_CANDIDATES = 10  # lexical hits checked for an exact normalized title
MAX_TITLE_WORDS = 32  # a longer title is looked up by its first words (then compared whole)

MATCHING, FETCHING, DONE = "matching", "fetching", "done"
MATCHED, FETCHED, NOT_FOUND, UNPARSEABLE, PENDING = (
    "matched",
    "fetched",
    "not_found",
    "unparseable",
    "pending",
)
OFFLINE_REASON = "not in this site's store, and the site does not ask arXiv (offline)"
HIDDEN_REASON = "removed from this site by its moderators"
NO_TITLE_REASON = "no paper in this site's store has this title"


def _entry_row(entry: CitationEntry | UnparseableEntry) -> dict[str, Any]:
    """What an import keeps of an entry until it is matched (the ``entries`` column)."""
    if isinstance(entry, UnparseableEntry):
        return {"index": entry.index, "line": entry.line, "error": entry.reason}
    return {
        "index": entry.index,
        "line": entry.line,
        "title": entry.title,
        "arxiv_id": entry.arxiv_id,
        "note": entry.note,
    }


def _read_file(
    data: bytes, filename: str | None
) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    """(format, entry rows in file order, the library JSON's document or None)."""
    document = library_json(data)
    if document is not None:
        return LIBRARY_JSON, restore_rows(document), document
    try:
        parsed = parse_file(data, filename)
    except CitationFileError as exc:
        raise LibraryError(f"This file cannot be imported: {exc}.") from None
    everything: list[CitationEntry | UnparseableEntry] = [*parsed.entries, *parsed.errors]
    everything.sort(key=lambda entry: entry.index)
    return parsed.format, [_entry_row(entry) for entry in everything], None


def start_import(
    session: Session,
    settings: Settings,
    user: User,
    data: bytes,
    filename: str | None,
    *,
    collection_name: str | None,
    now: dt.datetime,
) -> LibraryImport:
    """Read the file and import it: matched at once when small, else by a job (the caller's
    commit queues it). Our own JSON export (``export_library(..., "json")``) restores saves,
    collections, notes and marks.

    :param collection_name: put every paper found in this collection of the user's (made when
        the user has none of that name).
    :raises LibraryError: an empty file, one too large or with too many entries, CSL JSON that
        is not a list, a file with no entry at all, or a bad collection name.
    """
    if not data.strip(b" \t\r\n\x00"):
        raise LibraryError(
            "The file is empty: choose a BibTeX, CSL JSON or RIS file, or a list of arXiv ids."
        )
    format_, rows, document = _read_file(data, filename)
    if not rows:
        raise LibraryError(
            "No entries were found in the file: a BibTeX, CSL JSON or RIS file, or a list of "
            "arXiv ids (one a line) is expected."
        )
    collection_id = None
    if collection_name is not None and collection_name.strip():
        collection = collection_named(session, user, collection_name)
        if collection is None:
            try:
                collection = create_collection(session, user, collection_name, now=now)
            except LibraryError:
                # Another tab made it while this insert waited: use it (else the error stands).
                collection = collection_named(session, user, collection_name)
                if collection is None:
                    raise
        collection_id = collection.id
    if document is not None:
        restore_collections(session, user, document, now)
    library_import = LibraryImport(
        user_id=user.id,
        collection_id=collection_id,
        filename=(filename or "")[:200],
        format=format_,
        state=MATCHING,
        total=len(rows),
        processed=0,
        entries=rows,
        outcomes=[],
        created_at=now,
    )
    session.add(library_import)
    session.flush()
    if len(rows) <= INLINE_LIMIT:
        match_chunk(session, settings, user, library_import, rows, now)
        _finish_matching(session, library_import, now)
    else:
        _queue(session, LIBRARY_IMPORT_JOB, library_import, now)
    return library_import


def _queue(session: Session, kind: str, library_import: LibraryImport, now: dt.datetime) -> None:
    """One pending job of this kind per import (``kind:id`` dedupes a second start)."""
    key = f"{kind}:{library_import.id}"
    jobs.enqueue(session, kind, {"import_id": library_import.id}, dedupe_key=key, now=now)


def restore_collections(
    session: Session, user: User, document: dict[str, Any], now: dt.datetime
) -> None:
    """Make the collections a library JSON names that the user lacks (papers join later). One
    that cannot be made (a name too long, one collection too many) is left out: its papers are
    still saved, and the rest of the file is kept."""
    collections = document.get("collections")
    for item in collections if isinstance(collections, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        if collection_named(session, user, name) is None:
            description = item.get("description")
            try:
                create_collection(
                    session,
                    user,
                    name,
                    description=description if isinstance(description, str) else "",
                    is_public=item.get("is_public") is True,
                    now=now,
                )
            except LibraryError:
                continue


def _title_phrase(title: str) -> ParsedQuery | None:
    words = normalized_title(title).split()
    if not words:
        return None
    return ParsedQuery(raw=title, terms=(Term(tuple(words[:MAX_TITLE_WORDS]), phrase=True),))


def match_title(session: Session, title: str) -> Paper | None:
    """The visible paper whose normalized title is exactly this one's (the best-ranked one
    when several are), or None."""
    query = _title_phrase(title)
    if query is None:
        return None
    wanted = normalized_title(title)
    ids = list(
        session.scalars(matching(session, query, Paper.hidden_at.is_(None)).limit(TITLE_CANDIDATES))
    )
    if not ids:
        return None
    titles = dict(session.execute(select(Paper.id, Paper.title).where(Paper.id.in_(ids))).all())
    for paper_id in ids:
        if normalized_title(titles.get(paper_id, "")) == wanted:
            return session.get(Paper, paper_id)
    return None


def _outcome(
    row: dict[str, Any],
    outcome: str,
    *,
    arxiv_id: str | None = None,
    title: str | None = None,
    reason: str | None = None,
    matched_by: str | None = None,
) -> dict[str, Any]:
    return {
        "index": row["index"],
        "line": row.get("line"),
        "outcome": outcome,
        "arxiv_id": arxiv_id if arxiv_id is not None else row.get("arxiv_id"),
        "title": title if title is not None else row.get("title"),
        "reason": reason,
        "matched_by": matched_by,
    }


def match_chunk(
    session: Session,
    settings: Settings,
    user: User,
    library_import: LibraryImport,
    rows: Sequence[dict[str, Any]],
    now: dt.datetime,
) -> None:
    """Match ``rows`` (the next ones of the import), keep what matched, append their outcomes
    and advance ``processed``: one step the job commits, or the whole of a small import."""
    ids = [row["arxiv_id"] for row in rows if row.get("arxiv_id")]
    stored = {
        paper.arxiv_id: paper
        for paper in session.scalars(select(Paper).where(Paper.arxiv_id.in_(ids)))
    }
    outcomes: list[dict[str, Any]] = []
    found: list[tuple[dict[str, Any], Paper]] = []
    for row in rows:
        if "error" in row:
            outcomes.append(_outcome(row, UNPARSEABLE, reason=row["error"]))
            continue
        arxiv_id = row.get("arxiv_id")
        if arxiv_id:
            paper = stored.get(arxiv_id)
            if paper is not None and paper.hidden_at is not None:
                outcomes.append(_outcome(row, NOT_FOUND, reason=HIDDEN_REASON))
            elif paper is not None:
                found.append((row, paper))
                outcomes.append(_outcome(row, MATCHED, title=paper.title, matched_by="arxiv_id"))
            elif settings.offline:
                outcomes.append(_outcome(row, NOT_FOUND, reason=OFFLINE_REASON))
            else:
                outcomes.append(_outcome(row, PENDING))
            continue
        paper = match_title(session, row.get("title") or "")
        if paper is None:
            outcomes.append(_outcome(row, NOT_FOUND, reason=NO_TITLE_REASON))
        else:
            found.append((row, paper))
            outcomes.append(
                _outcome(
                    row, MATCHED, arxiv_id=paper.arxiv_id, title=paper.title, matched_by="title"
                )
            )
    refused = _keep(session, user, library_import, found, now)
    if refused is not None:
        kept = {id(row) for row, _ in found}
        outcomes = [
            _outcome(row, NOT_FOUND, reason=refused) if id(row) in kept else outcome
            for row, outcome in zip(rows, outcomes, strict=True)
        ]
    library_import.outcomes = [*library_import.outcomes, *outcomes]
    library_import.processed += len(rows)
    session.flush()


def _keep(
    session: Session,
    user: User,
    library_import: LibraryImport,
    found: Sequence[tuple[dict[str, Any], Paper]],
    now: dt.datetime,
) -> str | None:
    """Save the papers found, put them in the import's collection, and give each the entry's
    note when the user has none on it. Returns why nothing was saved (a full library)."""
    if not found:
        return None
    paper_ids = [paper.id for _, paper in found]
    try:
        with session.begin_nested():
            save_many(session, user, paper_ids, now)
    except LibraryError as exc:
        return str(exc)
    if library_import.collection_id is not None:
        add_to_collection(session, user, library_import.collection_id, paper_ids, now)
    noted = set(
        session.scalars(
            select(Note.paper_id).where(Note.user_id == user.id, Note.paper_id.in_(paper_ids))
        )
    )
    for row, paper in found:
        note = row.get("note")
        if note and note.strip() and paper.id not in noted:
            try:
                set_note(session, user, paper.id, note, now)
            except LibraryError:  # a note too long for the library is left out, the save stays
                continue
            noted.add(paper.id)
        if row.get("restore"):
            restore_row(session, user, paper.id, row["restore"], now)
    return None


def _finish_matching(session: Session, library_import: LibraryImport, now: dt.datetime) -> None:
    if any(outcome["outcome"] == PENDING for outcome in library_import.outcomes):
        library_import.state = FETCHING
        _queue(session, LIBRARY_FETCH_JOB, library_import, now)
    else:
        library_import.state = DONE
        library_import.finished_at = now
    session.flush()


def import_status(session: Session, user: User, import_id: int) -> LibraryImport:
    """The user's import with this id; anyone else's is as missing as none."""
    library_import = session.get(LibraryImport, import_id)
    if library_import is None or library_import.user_id != user.id:
        raise NotFoundError(f"You have no import with id {import_id}.")
    return library_import


def recent_imports(session: Session, user: User, limit: int = 10) -> list[LibraryImport]:
    """The user's imports, newest first."""
    return list(
        session.scalars(
            select(LibraryImport)
            .where(LibraryImport.user_id == user.id)
            .order_by(LibraryImport.created_at.desc(), LibraryImport.id.desc())
            .limit(limit)
        )
    )


def outcome_counts(library_import: LibraryImport) -> dict[str, int]:
    """How many entries ended each way (``pending``: waiting for arXiv), all keys present."""
    counts = Counter(outcome["outcome"] for outcome in library_import.outcomes)
    names = (MATCHED, FETCHED, NOT_FOUND, UNPARSEABLE, PENDING)
    return {name: counts.get(name, 0) for name in names}


# --- the jobs -----------------------------------------------------------------------------


def run_import_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler (``library_import``): match the import's entries a chunk a transaction,
    from ``processed`` on. A re-run after a crash repeats only the chunk that did not commit."""
    import_id = int(payload["import_id"])
    with session_scope(context.factory) as session:
        library_import = session.get(LibraryImport, import_id)
        if library_import is None or library_import.state != MATCHING:
            return
        rows = list(library_import.entries)
    while True:
        with session_scope(context.factory) as session, write_transaction(session):
            library_import = session.get(LibraryImport, import_id, with_for_update=True)
            if library_import is None or library_import.state != MATCHING:
                return
            start = library_import.processed
            if start >= len(rows):
                _finish_matching(session, library_import, context.now)
                return
            user = session.get(User, library_import.user_id)
            if user is None:
                return
            chunk = rows[start : start + CHUNK_SIZE]
            match_chunk(session, context.settings, user, library_import, chunk, context.now)
        log.info("library import %s: %s of %s matched", import_id, start + len(chunk), len(rows))


def _pending_ids(session: Session, import_id: int) -> list[str]:
    library_import = session.get(LibraryImport, import_id)
    if library_import is None or library_import.state != FETCHING:
        return []
    ids = (o["arxiv_id"] for o in library_import.outcomes if o["outcome"] == PENDING)
    return list(dict.fromkeys(ids))


def run_fetch_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler (``library_fetch``): ask arXiv for the import's pending ids, a batch a
    request (the client keeps ARXIV_DELAY_SECONDS between them), store and save what it has.

    arXiv unreachable: raise, so the queue retries later; on the last attempt the ids still
    pending become ``not_found`` with the reason instead."""
    import_id = int(payload["import_id"])
    settings = context.settings
    with session_scope(context.factory) as session:
        pending = _pending_ids(session, import_id)
    if settings.offline:
        _resolve(context, import_id, pending, [], failure=OFFLINE_REASON)
        pending = []
    client = make_client(settings)
    try:
        for start in range(0, len(pending), FETCH_BATCH):
            batch = pending[start : start + FETCH_BATCH]
            try:
                pages = fetch_api_pages(
                    client, settings.arxiv_api_url, id_list=batch, page_size=len(batch)
                )
                fetched = [item for page in pages for item in page.items]
            except (SourceUnavailableError, SourceFormatError) as exc:
                if not context.last_attempt:
                    raise
                reason = f"arXiv could not be asked ({exc})"
                _resolve(context, import_id, pending[start:], [], failure=reason)
                break
            _resolve(context, import_id, batch, fetched)
    finally:
        client.close()
    with session_scope(context.factory) as session, write_transaction(session):
        library_import = session.get(LibraryImport, import_id, with_for_update=True)
        if (
            library_import is not None
            and library_import.state == FETCHING
            and not any(o["outcome"] == PENDING for o in library_import.outcomes)
        ):
            library_import.state = DONE
            library_import.finished_at = context.now


def _resolve(
    context: JobContext,
    import_id: int,
    arxiv_ids: Iterable[str],
    fetched: Sequence[ArxivRaw | SourceError],
    *,
    failure: str | None = None,
) -> None:
    """Store arXiv's records, then settle the pending entries of these ids: ``fetched`` (and
    saved) when the store now has the paper, else ``not_found`` (``failure`` or "arXiv has
    no such paper"). One transaction, so a crash leaves them pending for the re-run."""
    wanted = set(arxiv_ids)
    if not wanted:
        return
    now = context.now
    with session_scope(context.factory) as session, write_transaction(session):
        library_import = session.get(LibraryImport, import_id, with_for_update=True)
        user = session.get(User, library_import.user_id) if library_import is not None else None
        if library_import is None or user is None or library_import.state != FETCHING:
            return
        if fetched:
            apply_arxiv_batch(ArxivUpserter(), session, fetched, IngestStats(), now)
        stored = {
            paper.arxiv_id: paper
            for paper in session.scalars(
                select(Paper).where(Paper.arxiv_id.in_(wanted), Paper.hidden_at.is_(None))
            )
        }
        rows = {row["index"]: row for row in library_import.entries}
        found: list[tuple[dict[str, Any], Paper]] = []
        outcomes: list[dict[str, Any]] = []
        for outcome in library_import.outcomes:
            arxiv_id = outcome["arxiv_id"]
            if outcome["outcome"] != PENDING or arxiv_id not in wanted:
                outcomes.append(outcome)
                continue
            row = rows[outcome["index"]]
            paper = stored.get(arxiv_id)
            if paper is None:
                reason = failure or f"arXiv has no paper {arxiv_id}"
                outcomes.append(_outcome(row, NOT_FOUND, reason=reason))
            else:
                found.append((row, paper))
                outcomes.append(_outcome(row, FETCHED, title=paper.title, matched_by="arxiv_id"))
        refused = _keep(session, user, library_import, found, now)
        if refused is not None:
            kept = {row["index"] for row, _ in found}
            outcomes = [
                _outcome(rows[o["index"]], NOT_FOUND, reason=refused) if o["index"] in kept else o
                for o in outcomes
            ]
        library_import.outcomes = outcomes


HANDLERS: dict[str, jobs.Handler] = {
    LIBRARY_IMPORT_JOB: run_import_job,
    LIBRARY_FETCH_JOB: run_fetch_job,
}
