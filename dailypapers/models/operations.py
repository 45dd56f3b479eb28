"""The job queue, ingest checkpoints and rate-limit counters. Times are UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from dailypapers.models.base import Base, UTCDateTime, utcnow


class Job(Base):
    """Work caused by a write, done later by a worker (DESIGN.md §1). See ``jobs.py``."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "priority", "run_after"),
        # One pending job per dedupe key; finished jobs keep their key for the record.
        Index(
            "uq_jobs_pending_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="queued")
    # Lower runs first: mail a person is waiting for goes before a backlog of embeddings.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IngestCheckpoint(Base):
    """Where a source's last run stopped (file offset, resumption token, last date)."""

    __tablename__ = "ingest_checkpoints"

    source: Mapped[str] = mapped_column(String(300), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RateLimitCounter(Base):
    """Hits on one rate-limit bucket in one fixed window (see ``rate_limits.py``)."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
