"""The ingest's background work: the worker's handlers and the daily harvest's schedule."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.ingest.run import harvest_oai, load_hf_daily_date, make_client
from dailypapers.jobs import HARVEST_JOB, HF_DAILY_JOB, JobContext
from dailypapers.models import Job

log = logging.getLogger(__name__)


def run_harvest_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler for the scheduled daily harvest (kind ``harvest``)."""
    with make_client(context.settings) as client:
        stats = harvest_oai(
            context.factory, context.settings, client, set_spec=payload.get("set") or None
        )
    log.info("harvest %s: %s", payload, stats.summary())


def run_hf_daily_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler: load one Hugging Face day (kind ``ingest_hf_daily``)."""
    day = dt.date.fromisoformat(str(payload["date"]))
    with make_client(context.settings, delay_seconds=0) as client:
        stats = load_hf_daily_date(context.factory, context.settings, client, day)
    log.info("hf-daily %s: %s", day, stats.summary())


def schedule_daily_harvest(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Enqueue today's harvest at HARVEST_TIME local time (the dedupe key makes it once a day)."""
    if not settings.harvest_enabled:
        return
    local_day = now.astimezone(settings.tz).date()
    key = f"harvest:oai:{settings.harvest_set}:{local_day.isoformat()}"
    # Once a day means once: a done or failed harvest of the day is not queued again.
    if session.scalar(select(Job.id).where(Job.dedupe_key == key).limit(1)) is not None:
        return
    due = dt.datetime.combine(local_day, settings.harvest_time, tzinfo=settings.tz)
    jobs.enqueue(
        session,
        HARVEST_JOB,
        {"source": "oai", "set": settings.harvest_set},
        dedupe_key=key,
        run_after=due.astimezone(dt.UTC),
        now=now,
    )


HANDLERS: dict[str, jobs.Handler] = {
    HARVEST_JOB: run_harvest_job,
    HF_DAILY_JOB: run_hf_daily_job,
}


def schedule(session: Session, settings: Settings, now: dt.datetime) -> None:
    """Periodic work for the worker loop: today's harvest, when enabled."""
    schedule_daily_harvest(session, settings, now)
