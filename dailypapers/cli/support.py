"""Pieces several ``dailypapers`` command groups share: settings, schema upgrade, progress bars,
and loading a Hugging Face Daily Papers file (``ingest hf-daily`` and ``demo``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily
from dailypapers.ingest.upsert import IngestStats

console = Console(stderr=True)


def settings_of(ctx: click.Context) -> Settings:
    """The Settings the ``main`` group read from the environment."""
    settings: Settings = ctx.obj
    return settings


def upgrade_schema(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def progress_bar(*, counted: bool = False) -> Progress:
    """A progress bar on a terminal; silent when output is piped or captured. ``counted``
    adds "n/total" and the time left, for work whose size is known."""
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
    ]
    if counted:
        columns += [MofNCompleteColumn(), TimeRemainingColumn()]
    return Progress(
        *columns,
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def load_hf_daily_file(settings: Settings, path: Path) -> IngestStats:
    """Load a Hugging Face Daily Papers file with a progress bar."""
    with session_factory(settings) as factory, progress_bar() as progress:
        task = progress.add_task(f"loading {path.name}", total=None)
        return load_hf_daily(
            factory, settings, path, on_progress=lambda n: progress.advance(task, n)
        )


def report_ingest(stats: IngestStats) -> None:
    """The counts of an ingest as a table, then its first failures."""
    table = Table(title="ingest", show_header=True)
    for column in ("new", "updated", "unchanged", "failed"):
        table.add_column(column, justify="right")
    table.add_row(str(stats.new), str(stats.updated), str(stats.unchanged), str(stats.failed))
    console.print(table)
    for error in stats.errors[:50]:
        console.print(f"[red]failed[/red] {error}", markup=True, highlight=False)
    if len(stats.errors) > 50:
        console.print(f"… and {len(stats.errors) - 50} more failures")
