"""``dailypapers serve``: the site and API; ``dailypapers demo``: the bundled month, served
with a worker beside it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

from dailypapers.allocator import cap_malloc_arenas
from dailypapers.cli.support import (
    console,
    load_hf_daily_file,
    report_ingest,
    session_factory,
    settings_of,
    upgrade_schema,
)
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.papers import latest_feed_date

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--migrate/--no-migrate", default=True, show_default=True, help="Upgrade the schema first."
)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, migrate: bool) -> None:
    """Serve the site and API with uvicorn."""
    _serve(settings_of(ctx), host, port, run_migrations=migrate)


def with_listening_base_url(settings: Settings, host: str, port: int) -> Settings:
    """Without a BASE_URL set, links in mail and feeds point where the server listens (the
    default names port 8000, so a demo on another port mailed dead links)."""
    if "base_url" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a name, not a bind)
    shown = f"[{shown}]" if ":" in shown else shown
    return settings.model_copy(update={"base_url": f"http://{shown}:{port}"})


def _serve(settings: Settings, host: str, port: int, *, run_migrations: bool) -> None:
    from dailypapers.web.app import create_app, run_server

    settings = with_listening_base_url(settings, host, port)
    cap_malloc_arenas(settings.malloc_arena_max)  # before uvicorn and its thread pool start

    if run_migrations:
        upgrade_schema(settings)
    console.print(
        f"Serving {settings.site_name} at [bold]http://{host}:{port}/[/bold] (Ctrl+C to stop)"
    )
    run_server(create_app(settings), host=host, port=port)


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


@click.command("demo")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve after loading.")
@click.pass_context
def demo_command(ctx: click.Context, host: str, port: int, serve: bool) -> None:
    """Create the database, load the bundled February 2026 month, and serve it with a worker.

    Unless DAILYPAPERS_TODAY is set, "today" is the last day of the bundled data, so the front
    page and trending show real content.
    """
    settings = settings_of(ctx)
    cap_malloc_arenas(settings.malloc_arena_max)  # before the load's threads and the server's
    upgrade_schema(settings)
    stats = load_hf_daily_file(settings, DEMO_DAILY_PAPERS)
    report_ingest(stats)
    if "mailer" not in settings.model_fields_set:
        # Confirmations and digests are printed by the demo's worker, never sent anywhere.
        settings = settings.model_copy(update={"mailer": "console"})
    if settings.today is None:
        with session_factory(settings) as factory, session_scope(factory) as session:
            last_day = latest_feed_date(session, settings.current_date())
        settings = settings.model_copy(update={"today": last_day})
        console.print(f"demo: 'today' is {last_day} (the last day of the bundled data)")
    if serve:
        settings = with_listening_base_url(settings, host, port)
        with _background_worker(settings):
            _serve(settings, host, port, run_migrations=False)
    else:
        click.echo(f"loaded; serve with: dailypapers serve --host {host} --port {port}")
