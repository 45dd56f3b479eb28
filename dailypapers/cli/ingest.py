"""``dailypapers ingest``: load papers from a file or a remote source; ``dailypapers calendar``:
which days have papers, and why the others have none."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.calendar import day_status
from dailypapers.cli.support import (
    console,
    load_hf_daily_file,
    progress_bar,
    report_ingest,
    session_factory,
    settings_of,
    upgrade_schema,
)
from dailypapers.db import session_scope
from dailypapers.ingest.http import SourceUnavailableError
from dailypapers.ingest.run import (
    SNAPSHOT_BATCH_SIZE,
    harvest_oai,
    ingest_arxiv_api,
    load_hf_daily_date,
    load_snapshot,
    make_client,
)
from dailypapers.ingest.sources.oai_pmh import FORMATS, BadResumptionTokenError
from dailypapers.ingest.sources.records import SourceFormatError
from dailypapers.ingest.upsert import IngestStats
from dailypapers.papers import entries_per_day, newest_ingested_day


@click.group("ingest")
def ingest_group() -> None:
    """Load papers from a source."""


@ingest_group.command("hf-daily")
@click.argument(
    "path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Fetch this day from HF_API_URL instead of reading a file.",
)
@click.pass_context
def ingest_hf_daily(ctx: click.Context, path: Path | None, day: dt.datetime | None) -> None:
    """Load Hugging Face Daily Papers from PATH (JSON lines or the API's JSON array; .gz/.xz
    ok) or, with --date, from the Hugging Face API.

    Idempotent: loading the same input again changes nothing. Bad records are reported with
    their line and skipped; the exit status is 1 when any record failed.
    """
    settings = settings_of(ctx)
    if (path is None) == (day is None):
        raise click.UsageError("give a PATH or --date, not both")
    upgrade_schema(settings)
    if path is not None:
        _finish(load_hf_daily_file(settings, path))
        return
    assert day is not None
    with session_factory(settings) as factory, make_client(settings, delay_seconds=0) as client:
        _finish(_guarded(lambda: load_hf_daily_date(factory, settings, client, day.date())))


@ingest_group.command("snapshot")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size", default=SNAPSHOT_BATCH_SIZE, show_default=True, type=click.IntRange(1)
)
@click.option(
    "--parallel/--no-parallel",
    default=(os.cpu_count() or 1) > 1,
    help="Read and normalize in a second process while this one writes (default on 2+ cores).",
)
@click.pass_context
def ingest_snapshot(ctx: click.Context, path: Path, batch_size: int, parallel: bool) -> None:
    """Load the arXiv metadata snapshot (or the cs-listings file) at PATH: plain, .gz or .xz.

    Resumes after an interrupted run; a rerun re-reads every record and rewrites only what
    changed. New and changed papers get an embedding job.
    """
    settings = settings_of(ctx)
    upgrade_schema(settings)
    size = path.stat().st_size
    with session_factory(settings) as factory, progress_bar() as progress:
        task = progress.add_task(f"loading {path.name}", total=size)
        stats = load_snapshot(
            factory,
            path,
            batch_size=batch_size,
            parallel=parallel,
            on_position=lambda position: progress.update(task, completed=position),
        )
    if stats.resumed_after:
        console.print(f"resumed after line {stats.resumed_after} of an interrupted run")
    _finish(stats)


@ingest_group.command("arxiv")
@click.option("--query", help="arXiv API search_query, e.g. 'cat:cs.CL AND ti:agents'.")
@click.option("--ids", help="Comma-separated arXiv ids or URLs.")
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 2000))
@click.pass_context
def ingest_arxiv(ctx: click.Context, query: str | None, ids: str | None, page_size: int) -> None:
    """Load papers from the arXiv API (ARXIV_API_URL), waiting ARXIV_DELAY_SECONDS between pages."""
    settings = settings_of(ctx)
    if (query is None) == (ids is None):
        raise click.UsageError("give --query or --ids")
    id_list: list[str] | None = None
    if ids is not None:
        try:
            id_list = [parse_arxiv_id(part).versioned for part in ids.split(",") if part.strip()]
        except ArxivIdError as exc:
            raise click.BadParameter(str(exc), param_hint="--ids") from None
    upgrade_schema(settings)
    with session_factory(settings) as factory, make_client(settings) as client:
        _finish(
            _guarded(
                lambda: ingest_arxiv_api(
                    factory, settings, client, query=query, ids=id_list, page_size=page_size
                )
            )
        )


@ingest_group.command("oai")
@click.option("--set", "set_spec", default=None, help="OAI set, e.g. cs (default: HARVEST_SET).")
@click.option("--from", "from_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--until", "until_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option(
    "--format", "metadata_prefix", type=click.Choice(FORMATS), default="arXiv", show_default=True
)
@click.pass_context
def ingest_oai(
    ctx: click.Context,
    set_spec: str | None,
    from_date: dt.datetime | None,
    until_date: dt.datetime | None,
    metadata_prefix: str,
) -> None:
    """Harvest arXiv over OAI-PMH (OAI_URL). Without --from, continue from the last harvest.

    An interrupted harvest of the same range resumes from its resumption token.
    """
    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, make_client(settings) as client:
        _finish(
            _guarded(
                lambda: harvest_oai(
                    factory,
                    settings,
                    client,
                    set_spec=set_spec or settings.harvest_set,
                    from_date=from_date.date() if from_date else None,
                    until_date=until_date.date() if until_date else None,
                    metadata_prefix=metadata_prefix,
                )
            )
        )


def _guarded(load: Callable[[], IngestStats]) -> IngestStats:
    """Turn a source that stopped answering into a clear message and exit status 1."""
    try:
        return load()
    except (SourceUnavailableError, SourceFormatError, BadResumptionTokenError) as exc:
        console.print(f"[red]stopped:[/red] {exc}", highlight=False)
        console.print("what was stored is kept; run the same command again to resume")
        sys.exit(1)


def _finish(stats: IngestStats) -> None:
    report_ingest(stats)
    if stats.failed:
        sys.exit(1)


@click.command("calendar")
@click.option("--from", "from_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--until", "until_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.pass_context
def calendar_command(
    ctx: click.Context, from_date: dt.datetime | None, until_date: dt.datetime | None
) -> None:
    """Each day's papers, or why there are none (weekend, holiday, not ingested yet)."""
    settings = settings_of(ctx)
    upgrade_schema(settings)
    today = settings.current_date()
    end = until_date.date() if until_date else today
    start = from_date.date() if from_date else end - dt.timedelta(days=13)
    if start > end:
        raise click.BadParameter("--from is after --until")
    with session_factory(settings) as factory, session_scope(factory) as session:
        counts = entries_per_day(session, start, end)
        newest = newest_ingested_day(session)
    day = start
    while day <= end:
        status = day_status(
            day,
            count=counts.get(day, 0),
            today=today,
            newest_ingested=newest,
            holidays=settings.holidays,
        )
        click.echo(f"{day.isoformat()}  {status.kind:<12}  {status.message}")
        day += dt.timedelta(days=1)
