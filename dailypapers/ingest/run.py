"""Run a load end to end: read → normalize → upsert in committed batches, with progress.

Every loader commits batch by batch with its checkpoint in the same transaction, so a killed
run keeps what it stored and the next run resumes after the last committed batch. A run that
finishes clears its checkpoint: running the same input again re-reads and compares every record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dailypapers.arxiv_ids import ArxivId, ArxivIdError, parse_arxiv_id
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.ingest.checkpoints import clear_checkpoint, load_checkpoint, save_checkpoint
from dailypapers.ingest.normalize import (
    DailyPaperRecord,
    RecordError,
    normalize_arxiv,
    normalize_hf_daily,
)
from dailypapers.ingest.sources.hf_daily import RawRecord, SourceError, read_hf_daily
from dailypapers.ingest.sources.snapshot import SnapshotLine, read_snapshot
from dailypapers.ingest.upsert import DailyPaperUpserter, IngestStats
from dailypapers.ingest.upsert_arxiv import ArxivUpserter, HashedRecord
from dailypapers.jobs import Clock, utc_clock

BATCH_SIZE = 500
SNAPSHOT_BATCH_SIZE = 2000
ProgressCallback = Callable[[int], None]


def load_hf_daily(
    factory: sessionmaker[Session],
    settings: Settings,
    path: Path,
    *,
    on_progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestStats:
    """Load a Hugging Face daily-papers file (JSON lines or the API's JSON array).

    Each batch commits on its own, so an interrupted load keeps what it stored and a rerun
    finishes the rest (every record is idempotent). Bad records are counted and reported with
    their position; the others are still loaded.
    """
    stats = IngestStats()
    records = iter(read_hf_daily(path))
    while batch := list(islice(records, batch_size)):
        normalized: list[DailyPaperRecord] = []
        for item in batch:
            if isinstance(item, SourceError):
                stats.fail(item.position, item.message)
                continue
            assert isinstance(item, RawRecord)
            try:
                normalized.append(normalize_hf_daily(item.data, settings.tz))
            except RecordError as exc:
                stats.fail(item.position, str(exc))
        with session_scope(factory) as session:
            upserter = DailyPaperUpserter(session, settings.trending_window_hours)
            for outcome in upserter.apply(normalized):
                stats.count(outcome)
        if on_progress is not None:
            on_progress(len(batch))
    return stats


def snapshot_source_key(path: Path) -> str:
    return f"snapshot:{path.resolve()}"


def _file_identity(path: Path) -> dict[str, Any]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


def load_snapshot(
    factory: sessionmaker[Session],
    path: Path,
    *,
    on_position: ProgressCallback | None = None,
    batch_size: int = SNAPSHOT_BATCH_SIZE,
    clock: Clock = utc_clock,
) -> IngestStats:
    """Load an arXiv snapshot file (either schema), resuming after an interrupted run.

    A record whose line hash equals the stored one is unchanged without being normalized; the
    others are normalized, compared field by field, and written only when something differs.
    """
    stats = IngestStats()
    source = snapshot_source_key(path)
    identity = _file_identity(path)
    with session_scope(factory) as session:
        checkpoint = load_checkpoint(session, source)
    resume_after = 0
    if checkpoint and {k: checkpoint.get(k) for k in identity} == identity:
        resume_after = int(checkpoint.get("line", 0))
    stats.resumed_after = resume_after
    upserter: ArxivUpserter | None = None
    lines = iter(read_snapshot(path, skip_lines=resume_after, on_position=on_position))
    while batch := list(islice(lines, batch_size)):
        with session_scope(factory) as session:
            if upserter is None:
                upserter = ArxivUpserter(session)
            upserter.session = session
            _apply_snapshot_batch(upserter, batch, stats, clock())
            last_line = max(
                (item.line_number for item in batch if isinstance(item, SnapshotLine)),
                default=resume_after,
            )
            save_checkpoint(session, source, {**identity, "line": last_line})
    with session_scope(factory) as session:
        clear_checkpoint(session, source)
    return stats


def _apply_snapshot_batch(
    upserter: ArxivUpserter,
    batch: list[SnapshotLine | SourceError],
    stats: IngestStats,
    now: dt.datetime,
) -> None:
    keyed: list[tuple[ArxivId, SnapshotLine]] = []
    for item in batch:
        if isinstance(item, SourceError):
            stats.fail(item.position, item.message)
            continue
        try:
            keyed.append((parse_arxiv_id(str(item.data.get("id", ""))), item))
        except ArxivIdError as exc:
            stats.fail(f"line {item.line_number}", f"id: {exc}")
    stored = upserter.stored_hashes([parsed.id for parsed, _ in keyed])
    to_apply: list[HashedRecord] = []
    for parsed, item in keyed:
        if stored.get(parsed.id) == item.source_hash:
            stats.count("unchanged")
            continue
        try:
            record = normalize_arxiv(item.data, parsed_id=parsed)
            to_apply.append(HashedRecord(record, item.source_hash))
        except RecordError as exc:
            stats.fail(f"line {item.line_number}", str(exc))
    for outcome in upserter.apply(to_apply, now):
        stats.count(outcome)
