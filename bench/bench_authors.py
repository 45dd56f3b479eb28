"""Author pages (issue #18) against the anonymous day page, in one run on the 75k store.

The store is the search benchmarks' (bench/search_store.py: the 75k corpus and the bundled
February 2026 month), copied into a temporary folder (bench_library's ``_store``); with
``--backend postgresql`` the same data goes into an embedded PostgreSQL instead. The authors
are found in the store, not named here: the most prolific one (a grouped count over
``authors.name_key``), one with about 15 papers, and the paper with the most authors.

Requests go over HTTP on 127.0.0.1 through uvicorn, one keep-alive anonymous client, one at a
time, in interleaved rounds (each round every page in turn), so a slow spell of the shared
machine lands on all pages alike; the table gives the p50 of every sample, the range of the
rounds' p50s and each p50 over the same run's anonymous day page.

    python -m bench.bench_authors [--backend sqlite|postgresql] [--rounds N] [--requests N]
                                  [--no-append]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.bench_library import BASELINE, DAY_PAGE, _store
from bench.common import TimedPage, measure_pages, publish, ratio_table, serve_in_thread
from dailypapers.authors.pages import author_summary
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.models import Author, Paper, PaperAuthor
from dailypapers.web.app import create_app

MIDDLING = 15
TARGET_RATIO = 2.0  # the author page's p50 over the anonymous day page's, same run


def _find(settings: Settings) -> dict[str, str | int]:
    """The most prolific author key, one with about ``MIDDLING`` papers, the paper with the
    most authors (visible papers only, as the pages count them)."""
    engine = make_engine(settings)
    papers = func.count(func.distinct(PaperAuthor.paper_id))
    by_key = (
        select(Author.name_key, papers.label("papers"))
        .join(PaperAuthor, PaperAuthor.author_id == Author.id)
        .join(Paper, Paper.id == PaperAuthor.paper_id)
        .where(Author.name_key != "", Paper.hidden_at.is_(None))
        .group_by(Author.name_key)
    )
    with session_scope(make_session_factory(engine)) as session:
        top_key, top_count = session.execute(
            by_key.order_by(papers.desc(), Author.name_key).limit(1)
        ).one()
        mid_key, mid_count = session.execute(
            by_key.having(papers == MIDDLING).order_by(Author.name_key).limit(1)
        ).one()
        authors = func.count(PaperAuthor.position)
        wide_id, wide_count = session.execute(
            select(Paper.arxiv_id, authors)
            .join(PaperAuthor, PaperAuthor.paper_id == Paper.id)
            .where(Paper.hidden_at.is_(None))
            .group_by(Paper.id, Paper.arxiv_id)
            .order_by(authors.desc(), Paper.id)
            .limit(1)
        ).one()
        top = author_summary(session, top_key)
        assert top is not None
        found: dict[str, str | int] = {
            "top slug": top.slug,
            "top name": top.name,
            "top papers": top_count,
            "mid slug": mid_key.replace(" ", "-"),
            "mid papers": mid_count,
            "wide paper": wide_id,
            "wide authors": wide_count,
        }
    engine.dispose()
    return found


def _pages(client: httpx.Client, found: dict[str, str | int]) -> dict[str, TimedPage]:
    top, mid = found["top slug"], found["mid slug"]
    wide = f"/papers/{found['wide paper']}"
    return {
        "static file (floor)": TimedPage(client, "/static/style.css"),
        BASELINE: TimedPage(client, DAY_PAGE),
        "author page, most prolific": TimedPage(client, f"/authors/{top}"),
        "author page, most prolific, page 2": TimedPage(client, f"/authors/{top}?page=2"),
        f"author page, {found['mid papers']} papers": TimedPage(client, f"/authors/{mid}"),
        "API author, most prolific": TimedPage(client, f"/api/authors/{top}"),
        f"paper page, {found['wide authors']} authors": TimedPage(client, wide),
    }


def _check(client: httpx.Client, found: dict[str, str | int], page_size: int) -> None:
    """The pages show what the benchmark means them to (so the figures are of real work)."""
    assert int(found["top papers"]) > page_size, "the most prolific author has no page 2"
    page = client.get(f"/authors/{found['top slug']}")
    assert page.status_code == 200, page.status_code
    assert page.text.count('<article class="card') >= page_size, "no cards"
    second = client.get(f"/authors/{found['top slug']}?page=2")
    assert second.status_code == 200, second.status_code
    assert '<article class="card' in second.text, "page 2 is empty"
    api = client.get(f"/api/authors/{found['top slug']}").json()
    assert api["numPapers"] == found["top papers"], api["numPapers"]
    paper = client.get(f"/papers/{found['wide paper']}").text
    links = paper.count('href="/authors/')
    assert links >= int(found["wide authors"]) * 0.9, f"{links} author links on the paper page"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30, help="per page and round")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-authors-") as folder,
        _store(args.backend, Path(folder)) as settings,
    ):
        found = _find(settings)
        with (
            serve_in_thread(create_app(settings)) as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            _check(client, found, settings.feed_page_size)
            figures = measure_pages(_pages(client, found), args.rounds, args.requests)
    baseline = figures[BASELINE][0]["p50"]
    lines = [
        f"Backend: {args.backend}. Store: the 75k corpus + the February 2026 month. Most "
        f"prolific author: {found['top name']} (/authors/{found['top slug']}, "
        f"{found['top papers']} papers, 50 a page); middling: /authors/{found['mid slug']} "
        f"({found['mid papers']} papers); widest paper: {found['wide paper']} "
        f"({found['wide authors']} authors, every name a link). Anonymous; HTTP on 127.0.0.1 "
        f"(uvicorn in the benchmark's process), one keep-alive client, {args.rounds} "
        f"interleaved rounds × {args.requests} requests per page.",
        "",
        *ratio_table(figures, BASELINE),
    ]
    ratio = figures["author page, most prolific"][0]["p50"] / baseline
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    lines += [
        "",
        f"Target: the most prolific author's page p50 ≤ {TARGET_RATIO:g}× the anonymous day "
        f"page's in the same run: {ratio:.2f}×, {verdict}.",
    ]
    publish(f"Author pages, {args.backend} (bench/bench_authors.py)", lines, args.no_append)


if __name__ == "__main__":
    main()
