"""Pieces every ``dailypapers`` command group shares: settings, schema upgrade, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory

console = Console(stderr=True)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _upgrade(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def _session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _progress(*, counted: bool = False) -> Progress:
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
