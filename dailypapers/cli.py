"""The ``dailypapers`` command: serve, db, ingest, demo. Each calls the same services as the web."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dailypapers import __version__, migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily
from dailypapers.ingest.upsert import IngestStats
from dailypapers.papers import latest_feed_date

console = Console(stderr=True)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


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
    import uvicorn

    from dailypapers.web.app import create_app

    if run_migrations:
        _upgrade(settings)
    console.print(
        f"Serving {settings.site_name} at [bold]http://{host}:{port}/[/bold] (Ctrl+C to stop)"
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@main.group()
def db() -> None:
    """Database schema commands."""


def _upgrade(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to repeat)."""
    settings = _settings(ctx)
    _upgrade(settings)
    click.echo(f"database is up to date: {_display_url(settings.resolved_database_url)}")


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def ingest() -> None:
    """Load papers from a source."""


def _load_with_progress(settings: Settings, path: Path) -> IngestStats:
    engine = make_engine(settings)
    try:
        factory = make_session_factory(engine)
        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task(f"loading {path.name}", total=None)
            return load_hf_daily(
                factory, settings, path, on_progress=lambda n: progress.advance(task, n)
            )
    finally:
        engine.dispose()


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
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def ingest_hf_daily(ctx: click.Context, path: Path) -> None:
    """Load Hugging Face Daily Papers from PATH: JSON lines or the API's JSON array (.gz/.xz ok).

    Idempotent: loading the same file again changes nothing. Bad records are reported with
    their line and skipped; the exit status is 1 when any record failed.
    """
    settings = _settings(ctx)
    _upgrade(settings)
    stats = _load_with_progress(settings, path)
    _report(stats)
    if stats.failed:
        sys.exit(1)


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve after loading.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, serve: bool) -> None:
    """Create the database, load the bundled February 2026 month, and serve it.

    Unless DAILYPAPERS_TODAY is set, "today" is the last day of the bundled data, so the front
    page and trending show real content.
    """
    settings = _settings(ctx)
    _upgrade(settings)
    stats = _load_with_progress(settings, DEMO_DAILY_PAPERS)
    _report(stats)
    if settings.today is None:
        engine = make_engine(settings)
        with session_scope(make_session_factory(engine)) as session:
            last_day = latest_feed_date(session, settings.current_date())
        engine.dispose()
        settings = settings.model_copy(update={"today": last_day})
        console.print(f"demo: 'today' is {last_day} (the last day of the bundled data)")
    if serve:
        _serve(settings, host, port, run_migrations=False)
    else:
        click.echo(f"loaded; serve with: dailypapers serve --host {host} --port {port}")
