"""``dailypapers digest``: send a period's email digest now, or preview one."""

from __future__ import annotations

import sys

import click

from dailypapers import jobs
from dailypapers.cli.support import (
    console,
    progress_bar,
    session_factory,
    settings_of,
    upgrade_schema,
)
from dailypapers.db import make_engine, make_session_factory, session_scope


@click.group("digest")
def digest_group() -> None:
    """Email digests: send a period now, or preview one."""


def _digest_period(text: str) -> str:
    from dailypapers.periods import PeriodError, digest_period_key, parse_digest_period

    try:
        return digest_period_key(*parse_digest_period(text))
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None


@digest_group.command("send")
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

    settings = settings_of(ctx)
    key = _digest_period(period)
    upgrade_schema(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            claimed = schedule_period(session, settings, key, jobs.utc_clock())
        console.print(f"{key}: {claimed} new subscriber(s) to send to")
        runner = Worker(settings, engine, factory, handlers={SEND_JOB: run_send_job})
        stats = WorkerStats()
        with progress_bar() as progress:
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


@digest_group.command("preview")
@click.option("--email", "address", help="A subscriber's address (default: a new subscriber).")
@click.option("--period", help="daily:YYYY-MM-DD or weekly:YYYY-Www (default: the latest day).")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text.")
@click.pass_context
def digest_preview(
    ctx: click.Context, address: str | None, period: str | None, as_html: bool
) -> None:
    """Print a digest as a subscriber would get it, without sending or recording anything."""
    from dailypapers.digests.preview import preview_digests

    settings = settings_of(ctx)
    key = _digest_period(period) if period else None
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
        try:
            previews = preview_digests(session, settings, address, key)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
        for subject, parts in previews:
            click.echo(f"Subject: {subject}\n")
            click.echo(parts.html if as_html else parts.text)
