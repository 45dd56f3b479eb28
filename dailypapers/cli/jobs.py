"""``dailypapers worker``: run background jobs; ``dailypapers jobs``: list and retry them."""

from __future__ import annotations

import signal
import sys
import threading

import click
from rich.console import Console
from rich.table import Table

from dailypapers import jobs
from dailypapers.cli.support import console, session_factory, settings_of, upgrade_schema
from dailypapers.db import make_engine, make_session_factory, session_scope


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs that are due, then exit (for cron).")
@click.pass_context
def worker_command(ctx: click.Context, once: bool) -> None:
    """Run background jobs: harvests, Hugging Face days, digests and their mail, embeddings."""
    from dailypapers.worker import Worker

    settings = settings_of(ctx)
    upgrade_schema(settings)
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


@click.group("jobs")
def jobs_group() -> None:
    """Inspect and retry background jobs."""


@jobs_group.command("list")
@click.option("--failed", is_flag=True, help="Only jobs that failed for good.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def jobs_list(ctx: click.Context, failed: bool, limit: int) -> None:
    """The newest jobs with their state, attempts and last error."""
    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
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
    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
        try:
            jobs.retry(session, job_id, jobs.utc_clock())
        except jobs.RetryRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"job {job_id} queued")
