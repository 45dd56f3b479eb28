"""Run a load end to end: read → normalize → upsert in committed batches, with progress.

Every loader commits batch by batch with its checkpoint in the same transaction, so a killed
run keeps what it stored and the next run resumes after the last committed batch. A run that
finishes clears its checkpoint: running the same input again re-reads and compares every record.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.arxiv_ids import ArxivId
from dailypapers.config import Settings
from dailypapers.db import session_scope, tune_for_bulk_load
from dailypapers.ingest.checkpoints import clear_checkpoint, load_checkpoint, save_checkpoint
from dailypapers.ingest.http import PoliteClient
from dailypapers.ingest.lexical_index import (
    BULK_AUTOMERGE,
    DEFAULT_AUTOMERGE,
    set_lexical_automerge,
)
from dailypapers.ingest.normalize import DailyPaperRecord, normalize_hf_daily
from dailypapers.ingest.prepare import (
    PreparedBatch,
    prepare_batches,
    prepare_batches_in_background,
    prepare_record,
    record_id,
)
from dailypapers.ingest.sources.arxiv_api import fetch_api_pages
from dailypapers.ingest.sources.hf_daily import (
    RawRecord,
    SourceError,
    fetch_hf_daily,
    read_hf_daily,
)
from dailypapers.ingest.sources.oai_pmh import BadResumptionTokenError, list_records
from dailypapers.ingest.sources.records import ArxivRaw
from dailypapers.ingest.text import RecordError, record_problem
from dailypapers.ingest.upsert import DailyPaperUpserter, IngestStats
from dailypapers.ingest.upsert_arxiv import ArxivUpserter, HashedRecord
from dailypapers.jobs import Clock, utc_clock
from dailypapers.models import Paper

log = logging.getLogger(__name__)

BATCH_SIZE = 500
SNAPSHOT_BATCH_SIZE = 5000
ProgressCallback = Callable[[int], None]


def load_hf_daily(
    factory: sessionmaker[Session],
    settings: Settings,
    path: Path,
    *,
    on_progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestStats:
    """Load a Hugging Face daily-papers file (JSON lines or the API's JSON array)."""
    return load_hf_daily_records(
        factory, settings, read_hf_daily(path), on_progress=on_progress, batch_size=batch_size
    )


def load_hf_daily_records(
    factory: sessionmaker[Session],
    settings: Settings,
    records: Iterable[RawRecord | SourceError],
    *,
    on_progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestStats:
    """Load Hugging Face daily-papers records from any reader (file or HTTP).

    Each batch commits on its own, so an interrupted load keeps what it stored and a rerun
    finishes the rest (every record is idempotent). Bad records are counted and reported with
    their position; the others are still loaded.
    """
    stats = IngestStats()
    stream = iter(records)
    while batch := list(islice(stream, batch_size)):
        normalized: list[DailyPaperRecord] = []
        for item in batch:
            if isinstance(item, SourceError):
                stats.fail(item.position, item.message)
                continue
            try:
                normalized.append(normalize_hf_daily(item.data))
            except (RecordError, TypeError, OverflowError) as exc:
                stats.fail(item.position, record_problem(exc))
        with session_scope(factory) as session:
            upserter = DailyPaperUpserter(session, settings.trending_window_hours)
            for outcome in upserter.apply(normalized):
                stats.count(outcome)
        if on_progress is not None:
            on_progress(len(batch))
    return stats


def make_client(settings: Settings, *, delay_seconds: float | None = None) -> PoliteClient:
    return PoliteClient(
        delay_seconds=settings.arxiv_delay_seconds if delay_seconds is None else delay_seconds,
        max_retries=settings.http_max_retries,
        timeout_seconds=settings.http_timeout_seconds,
        user_agent=settings.http_user_agent,
    )


def load_hf_daily_date(
    factory: sessionmaker[Session], settings: Settings, client: PoliteClient, day: dt.date
) -> IngestStats:
    """Fetch one day of Hugging Face's ``/api/daily_papers`` and load it."""
    url = f"{settings.hf_api_url.rstrip('/')}/api/daily_papers"
    return load_hf_daily_records(factory, settings, fetch_hf_daily(client, url, day))


def snapshot_source_key(path: Path) -> str:
    return f"snapshot:{path.resolve()}"


def _file_identity(path: Path) -> dict[str, Any]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


# Allocations between two young-generation collections during a bulk load (Python's: 700).
BULK_GC_THRESHOLD = 10_000


@contextmanager
def _collector_for_bulk_load() -> Iterator[None]:
    """Spare the cyclic collector's work that finds nothing during a bulk load.

    Each batch brings many new container objects that stay alive until it is written, so the
    collector ran again and again and rescanned them (and everything imported) for nothing
    (docs/benchmarks.md). The objects alive at the start are frozen (out of its view, as
    the web app does) and young collections run every ``BULK_GC_THRESHOLD`` allocations; both
    are restored after, and a forked preparing process inherits them. A process that froze
    objects itself (the web app) keeps its own freezing: unfreezing would undo it.
    """
    thresholds = gc.get_threshold()
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    gc.set_threshold(BULK_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freezing:
            gc.unfreeze()


def load_snapshot(
    factory: sessionmaker[Session],
    path: Path,
    *,
    on_position: ProgressCallback | None = None,
    batch_size: int = SNAPSHOT_BATCH_SIZE,
    parallel: bool = False,
    clock: Clock = utc_clock,
) -> IngestStats:
    """Load an arXiv snapshot file (either schema), resuming after an interrupted run.

    A line whose hash is stored is unchanged without being normalized; the others are
    normalized, compared field by field, and written only when something differs. With
    ``parallel`` the reading and normalizing run in a second process (``ingest/prepare.py``).
    """
    with _collector_for_bulk_load():
        return _load_snapshot(
            factory,
            path,
            on_position=on_position,
            batch_size=batch_size,
            parallel=parallel,
            clock=clock,
        )


def _load_snapshot(
    factory: sessionmaker[Session],
    path: Path,
    *,
    on_position: ProgressCallback | None,
    batch_size: int,
    parallel: bool,
    clock: Clock,
) -> IngestStats:
    stats = IngestStats()
    source = snapshot_source_key(path)
    identity = _file_identity(path)
    with session_scope(factory) as session:
        checkpoint = load_checkpoint(session, source)
        known_hashes = frozenset(
            digest for digest in session.scalars(select(Paper.metadata_hash)) if digest is not None
        )
    resume_after = 0
    if checkpoint and {k: checkpoint.get(k) for k in identity} == identity:
        resume_after = int(checkpoint.get("line", 0))
    stats.resumed_after = resume_after
    prepare = prepare_batches_in_background if parallel else prepare_batches
    batches = prepare(
        path, skip_lines=resume_after, known_hashes=known_hashes, batch_size=batch_size
    )
    upserter = ArxivUpserter()
    with session_scope(factory) as session:
        set_lexical_automerge(session, BULK_AUTOMERGE)
    try:
        for batch in batches:
            if not batch.records and not batch.errors:
                # Nothing to write: no transaction. The checkpoint stays at the last write,
                # so a resume at worst re-reads (and again skips) these lines.
                stats.unchanged += batch.unchanged
                if on_position is not None:
                    on_position(batch.bytes_read)
                continue
            with session_scope(factory) as session:
                tune_for_bulk_load(session)
                _apply_prepared(upserter, session, batch, stats, clock())
                save_checkpoint(session, source, {**identity, "line": batch.last_line})
            if on_position is not None:
                on_position(batch.bytes_read)
    finally:
        with session_scope(factory) as session:
            tune_for_bulk_load(session, enabled=False)
            set_lexical_automerge(session, DEFAULT_AUTOMERGE)
    with session_scope(factory) as session:
        clear_checkpoint(session, source)
    return stats


def _apply_prepared(
    upserter: ArxivUpserter,
    session: Session,
    batch: PreparedBatch,
    stats: IngestStats,
    now: dt.datetime,
) -> None:
    for position, message in batch.errors:
        stats.fail(position, message)
    stats.unchanged += batch.unchanged
    for outcome in upserter.apply(session, batch.records, now):
        stats.count(outcome)


def apply_arxiv_batch(
    upserter: ArxivUpserter,
    session: Session,
    batch: Sequence[ArxivRaw | SourceError],
    stats: IngestStats,
    now: dt.datetime,
) -> None:
    """Count errors, skip records whose hash is stored, normalize and upsert the rest."""
    keyed: list[tuple[ArxivId, ArxivRaw]] = []
    for item in batch:
        if isinstance(item, SourceError):
            stats.fail(item.position, item.message)
            continue
        try:
            keyed.append((record_id(item), item))
        except RecordError as exc:
            stats.fail(item.position, str(exc))
    stored = upserter.stored_hashes(session, [parsed.id for parsed, _ in keyed])
    to_apply: list[HashedRecord] = []
    for parsed, item in keyed:
        if stored.get(parsed.id) == item.source_hash:
            stats.count("unchanged")
            continue
        try:
            to_apply.append(prepare_record(item, parsed))
        except RecordError as exc:
            stats.fail(item.position, str(exc))
    for outcome in upserter.apply(session, to_apply, now):
        stats.count(outcome)


def oai_source_key(set_spec: str | None, metadata_prefix: str) -> str:
    return f"oai:{metadata_prefix}:{set_spec or '*'}"


def harvest_oai(
    factory: sessionmaker[Session],
    settings: Settings,
    client: PoliteClient,
    *,
    set_spec: str | None,
    from_date: dt.date | None = None,
    until_date: dt.date | None = None,
    metadata_prefix: str = "arXiv",
    clock: Clock = utc_clock,
) -> IngestStats:
    """Harvest OAI-PMH ListRecords into the store, page by page, resumably.

    Each page commits with its resumption token; an interrupted harvest of the same range
    resumes from the token. With no ``from_date`` the harvest is incremental: it starts at the
    day the previous complete harvest reached (that day again, since loading is idempotent).
    An expired token restarts the range once.
    """
    stats = IngestStats()
    source = oai_source_key(set_spec, metadata_prefix)
    with session_scope(factory) as session:
        checkpoint = load_checkpoint(session, source) or {}
    if from_date is None and checkpoint.get("harvested_until"):
        from_date = dt.date.fromisoformat(checkpoint["harvested_until"])
    wanted = {
        "from": from_date.isoformat() if from_date else None,
        "until": until_date.isoformat() if until_date else None,
    }
    token = checkpoint.get("token") if {k: checkpoint.get(k) for k in wanted} == wanted else None
    if token:
        stats.resumed_after = int(checkpoint.get("records", 0))
    upserter = ArxivUpserter()
    for attempt in (1, 2):
        try:
            pages = list_records(
                client,
                settings.oai_url,
                set_spec=set_spec,
                from_date=from_date,
                until_date=until_date,
                metadata_prefix=metadata_prefix,
                resumption_token=token,
            )
            for page in pages:
                with session_scope(factory) as session:
                    apply_arxiv_batch(upserter, session, page.items, stats, clock())
                    stats.deleted += page.deleted
                    save_checkpoint(
                        session,
                        source,
                        {
                            **checkpoint,
                            **wanted,
                            "token": page.resumption_token,
                            "records": stats.total + stats.resumed_after,
                        },
                    )
            break
        except BadResumptionTokenError:
            if attempt == 2 or not token:
                raise
            token = None  # expired: harvest the whole range again (idempotent)
    reached = until_date or clock().date()
    previous = checkpoint.get("harvested_until")
    if previous and previous > reached.isoformat():
        reached = dt.date.fromisoformat(previous)  # a backfill does not move the mark back
    with session_scope(factory) as session:
        save_checkpoint(session, source, {"harvested_until": reached.isoformat()})
    return stats


def arxiv_api_source_key(query: str) -> str:
    return f"arxiv-api:{query}"


def ingest_arxiv_api(
    factory: sessionmaker[Session],
    settings: Settings,
    client: PoliteClient,
    *,
    query: str | None = None,
    ids: list[str] | None = None,
    page_size: int = 100,
    clock: Clock = utc_clock,
) -> IngestStats:
    """Load the results of an arXiv API search (resumable by page) or a list of ids."""
    stats = IngestStats()
    source = arxiv_api_source_key(query) if query else None
    start = 0
    if source:
        with session_scope(factory) as session:
            start = int((load_checkpoint(session, source) or {}).get("start", 0))
        stats.resumed_after = start
    upserter = ArxivUpserter()
    id_chunks: list[list[str] | None] = (
        [ids[i : i + page_size] for i in range(0, len(ids), page_size)] if ids else [None]
    )
    for chunk in id_chunks:
        pages = fetch_api_pages(
            client,
            settings.arxiv_api_url,
            search_query=query,
            id_list=chunk,
            page_size=page_size,
            start=start,
        )
        for page in pages:
            with session_scope(factory) as session:
                apply_arxiv_batch(upserter, session, page.items, stats, clock())
                if source:
                    save_checkpoint(session, source, {"start": page.start + len(page.items)})
    if source:
        with session_scope(factory) as session:
            clear_checkpoint(session, source)
    return stats
