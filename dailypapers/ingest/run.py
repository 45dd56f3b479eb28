"""Run a load end to end: read → normalize → upsert in committed batches, with progress."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.ingest.normalize import DailyPaperRecord, RecordError, normalize_hf_daily
from dailypapers.ingest.sources.hf_daily import RawRecord, SourceError, read_hf_daily
from dailypapers.ingest.upsert import DailyPaperUpserter, IngestStats

BATCH_SIZE = 500
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
