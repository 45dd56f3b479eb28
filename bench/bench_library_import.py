"""A large library import through the ``library_import`` job, vs. parsing the file alone.

Store: the bundled Hugging Face month in a fresh SQLite file (``--store PATH``: an existing
store instead, e.g. the 75k one, copied first). File: BibTeX of ``--entries`` entries cycling
over three kinds: a stored paper by ``eprint``, a stored paper by title only (upper-cased, its
punctuation changed, so only the normalized title matches), and an id the store lacks (the
site is OFFLINE here, so those are "not found" without asking arXiv).

- baseline, same run: ``parse_file`` of the same bytes (what any import costs before matching);
- import: ``start_import`` (parse, store the entries, queue the job) then the job's handler,
  chunk by chunk, as the worker runs it; with the milliseconds a title lookup takes.

Usage: python -m bench.bench_library_import [--entries N] [--store PATH] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bench.common import publish
from dailypapers import accounts, migrate
from dailypapers.citations import parse_file
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily
from dailypapers.jobs import JobContext
from dailypapers.library import imports
from dailypapers.models import LibraryImport, Paper, User

NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)


def _bibtex(papers: list[tuple[str, str]], entries: int) -> bytes:
    blocks = []
    for n in range(entries):
        arxiv_id, title = papers[(n // 3) % len(papers)]
        kind = n % 3
        if kind == 0:
            blocks.append(f"@misc{{e{n}, title={{{title}}}, eprint={{{arxiv_id}}}}}")
        elif kind == 1:
            mangled = title.upper().replace(":", " -").replace("{", "").replace("}", "")
            blocks.append(f"@inproceedings{{t{n}, title={{{mangled}}}, year={{2026}}}}")
        else:
            blocks.append(f"@misc{{m{n}, title={{Missing {n}}}, eprint={{2612.{n:05d}}}}}")
    return "\n\n".join(blocks).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2_000)
    parser.add_argument("--store", type=Path, help="an existing SQLite store (copied first)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-library-import-"))
    try:
        settings = Settings(data_dir=folder, offline=True, digest_enabled=False)
        if args.store is not None:
            shutil.copy(args.store, folder / "dailypapers.sqlite3")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        if args.store is None:
            load_hf_daily(factory, settings, DEMO_DAILY_PAPERS)
        with session_scope(factory) as session:
            rows = session.execute(select(Paper.arxiv_id, Paper.title).order_by(Paper.id))
            papers = [(a, t) for a, t in rows if "%" not in t and "\\" not in t]
            store_size = len(papers)
            user = accounts.create_user(
                session,
                settings,
                username="bench",
                email="b@example.org",
                password="x" * 12,
                now=NOW,
            )
            user_id = user.id
        data = _bibtex(papers, args.entries)

        started = time.perf_counter()
        parsed = parse_file(data, "bench.bib")
        parse_seconds = time.perf_counter() - started
        assert len(parsed.entries) == args.entries

        started = time.perf_counter()
        with session_scope(factory) as session:
            user = session.get(User, user_id)
            assert user is not None
            import_id = imports.start_import(
                session, settings, user, data, "bench.bib", collection_name="Bench", now=NOW
            ).id
        start_seconds = time.perf_counter() - started
        started = time.perf_counter()
        imports.run_import_job(JobContext(settings, engine, factory, NOW), {"import_id": import_id})
        job_seconds = time.perf_counter() - started

        with session_scope(factory) as session:
            library_import = session.get(LibraryImport, import_id)
            assert library_import is not None
            counts = imports.outcome_counts(library_import)
            sample = [t.upper().replace(":", " -") for _, t in papers[:300]]
            started = time.perf_counter()
            hits = sum(imports.match_title(session, title) is not None for title in sample)
            title_ms = (time.perf_counter() - started) / len(sample) * 1000
        chunks = -(-args.entries // imports.CHUNK_SIZE)
        lines = [
            f"Store: {store_size:,} papers (SQLite), BibTeX of {args.entries:,} entries "
            f"({len(data) / 1024:.0f} KiB): one third by eprint, one third by title only, one "
            "third ids the store lacks (OFFLINE).",
            "",
            "| step | seconds |",
            "|---|---|",
            f"| baseline: `parse_file` alone | {parse_seconds:.2f} |",
            f"| `start_import` (parse, store entries, queue the job) | {start_seconds:.2f} |",
            f"| the `library_import` job, {chunks} chunks | {job_seconds:.2f} |",
            "",
            f"Outcomes: {counts}. A title lookup (lexical phrase + normalized compare): "
            f"{title_ms:.2f} ms ({hits}/{len(sample)} found).",
        ]
        publish(
            f"Library import of {args.entries:,} BibTeX entries (issue 17)", lines, args.no_append
        )
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
