"""``dailypapers model``, ``index`` and ``search``: the embedding model and the search index."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dailypapers.cli.support import (
    console,
    progress_bar,
    session_factory,
    settings_of,
    upgrade_schema,
)


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

    target = folder or settings_of(ctx).resolved_model_dir
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

    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
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

    settings = settings_of(ctx)
    upgrade_schema(settings)
    try:
        embedder = settings_embedder(settings)
    except ModelUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    with session_factory(settings) as factory, progress_bar(counted=True) as progress:
        task = progress.add_task("embedding papers", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        written = rebuild_index(factory, embedder, on_progress=advance)
    click.echo(f"{written:,} vectors written ({embedder.model})")


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 100), help="Most results."
)
@click.option("--json", "as_json", is_flag=True, help="Print what /api/papers/search returns.")
@click.pass_context
def search_command(ctx: click.Context, query: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Search papers, best first, as the site's search page does.

    QUERY takes the search box's syntax: words, "a phrase", -word, author:Name, cat:cs.CL,
    org:name, from:/to: (YYYY, YYYY-MM or YYYY-MM-DD), has:code, an arXiv id or link
    (docs/search.md). Its words may be given unquoted; quote a phrase for the shell too:
    dailypapers search '"world model"' cat:cs.RO. A malformed filter exits with status 2.
    """
    import json

    from dailypapers.db import session_scope
    from dailypapers.papers import papers_in_order
    from dailypapers.schemas import items_in_order
    from dailypapers.search import hybrid
    from dailypapers.search.query import QueryError

    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
        try:
            results = hybrid.search(session, settings, _argv_text(query), limit=limit)
        except QueryError as exc:
            # The message quotes the user's query: never read it as rich markup.
            console.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False)
            ctx.exit(2)
        if as_json:
            # What the API answers: the same items, aliases, and fields with no value left out.
            items = items_in_order(session, [hit.paper_id for hit in results.hits])
            dumped = [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items]
            click.echo(json.dumps(dumped, ensure_ascii=False))
            return
        papers = papers_in_order(session, [hit.paper_id for hit in results.hits])
        for note in results.notes:
            console.print(Text(note))
        if not papers:
            console.print("no papers match")
            return
        hits = {hit.paper_id: hit for hit in results.hits}
        table = Table(title=f"{len(papers)} of {results.total} results")
        for name, justify in (
            ("#", "right"),
            ("arXiv id", "left"),
            ("title", "left"),
            ("date", "left"),
            ("upvotes", "right"),
            ("score", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for rank, paper in enumerate(papers, 1):
            hit = hits[paper.id]
            entry = paper.daily_entry
            day = entry.feed_date if entry else paper.published_at
            table.add_row(
                str(rank),
                paper.arxiv_id,
                Text(paper.title),
                day.strftime("%Y-%m-%d") if day else "",
                str(paper.upvotes),
                "pinned" if hit.pinned else f"{hit.score:.3f}",
            )
        Console().print(table)


def _argv_text(words: tuple[str, ...]) -> str:
    """The query words as valid Unicode: bytes that are not UTF-8 (a Latin-1 terminal) reach
    Python as lone surrogates, which no database accepts; they become U+FFFD."""
    return " ".join(words).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
