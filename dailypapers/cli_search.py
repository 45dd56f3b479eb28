"""``dailypapers model``, ``index`` and ``search``: the embedding model and the search index."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dailypapers.cli_support import _progress, _session_factory, _settings, _upgrade, console


@click.group("model")
def model_group() -> None:
    """The embedding model (all-MiniLM-L6-v2 on ONNX Runtime)."""


@model_group.command("export")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the model (default: MODEL_DIR, else DATA_DIR/model).",
)
@click.option("--force", is_flag=True, help="Export again even if the folder holds a model.")
@click.pass_context
def model_export(ctx: click.Context, folder: Path | None, force: bool) -> None:
    """Export the model from torch to ONNX once (needs the build-only 'model' extra)."""
    from dailypapers.search.embed import MANIFEST_NAME, MODEL_FILE
    from dailypapers.search.model_export import export_model

    target = folder or _settings(ctx).resolved_model_dir
    if not force and (target / MODEL_FILE).exists() and (target / MANIFEST_NAME).exists():
        click.echo(f"model already exported in {target}")
        return
    try:
        with console.status("exporting all-MiniLM-L6-v2 to ONNX"):
            export_model(target)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"model exported to {target}")


@click.group("index")
def index_group() -> None:
    """The semantic search index (paper embeddings)."""


@index_group.command("status")
@click.pass_context
def index_status_command(ctx: click.Context) -> None:
    """Papers, vectors of the current model, what is left, and the embedding jobs."""
    from dailypapers.db import session_scope
    from dailypapers.search.indexer import index_status

    settings = _settings(ctx)
    _upgrade(settings)
    with _session_factory(settings) as factory, session_scope(factory) as session:
        status = index_status(session, settings)
    table = Table(title="search index", show_header=False)
    table.add_row("model", status.model or f"not exported (looked in {status.model_dir})")
    table.add_row("papers", f"{status.papers:,}")
    table.add_row("with a current vector", f"{status.embedded:,}")
    table.add_row("missing or stale", f"{status.missing:,}")
    if status.other_model:
        table.add_row("vectors of another model", f"{status.other_model:,}")
    table.add_row("embedding jobs waiting", f"{status.pending_jobs:,}")
    table.add_row("embedding jobs failed", f"{status.failed_jobs:,}")
    Console().print(table)
    if status.model is None:
        console.print("run 'dailypapers model export' to enable semantic search")


@index_group.command("rebuild")
@click.pass_context
def index_rebuild(ctx: click.Context) -> None:
    """Embed every paper whose vector is missing or stale, now, with a progress bar.

    Safe to interrupt: each batch is committed, and the next run continues from there."""
    from dailypapers.search.embed import ModelUnavailableError
    from dailypapers.search.indexer import rebuild_index, settings_embedder

    settings = _settings(ctx)
    _upgrade(settings)
    try:
        embedder = settings_embedder(settings)
    except ModelUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    with _session_factory(settings) as factory, _progress(counted=True) as progress:
        task = progress.add_task("embedding papers", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        written = rebuild_index(factory, embedder, on_progress=advance)
    click.echo(f"{written:,} vectors written ({embedder.model})")
