"""The ``dailypapers`` command (``main``, the console script of pyproject.toml).

One module per command group, each calling the same service modules as the web:
``serve`` (serve, demo), ``db`` (upgrade, backup, restore), ``ingest`` (ingest, calendar),
``jobs`` (worker, jobs), ``digests`` (digest), ``users`` (user), ``search`` (model, index,
search). ``support`` holds what several of them use. Only ``serve`` reaches the web package,
and only when it runs.
"""

from __future__ import annotations

import click

from dailypapers import __version__
from dailypapers.cli.db import db_group
from dailypapers.cli.digests import digest_group
from dailypapers.cli.ingest import calendar_command, ingest_group
from dailypapers.cli.jobs import jobs_group, worker_command
from dailypapers.cli.search import index_group, model_group, search_command
from dailypapers.cli.serve import demo_command, serve_command
from dailypapers.cli.users import user_group
from dailypapers.config import Settings


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


for command in (
    serve_command,
    db_group,
    ingest_group,
    worker_command,
    jobs_group,
    calendar_command,
    demo_command,
    digest_group,
    user_group,
    model_group,
    index_group,
    search_command,
):
    main.add_command(command)
