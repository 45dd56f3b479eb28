"""Bulk loading of the arXiv snapshot (both schemas): idempotence, changes, resume after kill -9."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.normalize import normalize_arxiv
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.ingest.text import RecordError
from dailypapers.models import Author, Job, Paper, PaperAuthor, PaperVersion
from tests.support import DATA_DIR
from tests.support.database import lexical_match_ids

pytestmark = pytest.mark.both_backends


SNAPSHOT = DATA_DIR / "arxiv_snapshot_150.jsonl.gz"
LISTINGS = DATA_DIR / "arxiv_listings_150.jsonl.gz"


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in gzip.open(path)]


def _write(path: Path, records: list[object], extra: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    path.write_bytes(b"".join([orjson.dumps(r) + b"\n" for r in records] + list(extra)))
    return path


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _table_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    return {m.__name__: _count(factory, m) for m in (Paper, Author, PaperAuthor, PaperVersion, Job)}


def test_both_schemas_load_and_rerun_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    first = load_snapshot(session_factory, SNAPSHOT)
    assert (first.new, first.failed) == (150, 0)
    assert _count(session_factory, Job) == 150  # an embedding job per new paper
    with session_factory() as session:
        before = session.execute(select(Paper.arxiv_id, Paper.modified_at)).all()
    again = load_snapshot(session_factory, SNAPSHOT)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 150)
    # The listing schema of the same papers only adds the listing date.
    listings = load_snapshot(session_factory, LISTINGS)
    assert (listings.new, listings.failed) == (0, 0)
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Paper.listing_date.is_(None))) == 0
        unchanged_ids = {a for a, _ in before}
        assert set(session.scalars(select(Paper.arxiv_id))) == unchanged_ids
    assert _count(session_factory, Job) == 150  # no content changed: no new embedding job


def test_a_new_version_updates_the_paper_and_reembeds_once(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    records = _lines(SNAPSHOT)[:5]
    load_snapshot(session_factory, _write(tmp_path / "v1.jsonl", records))
    revised = json.loads(json.dumps(records[0]))
    revised["title"] = "A better title"
    revised["versions"].append({"version": "v2", "created": "Fri, 26 Jun 2026 14:32:07 GMT"})
    for name in ("v2.jsonl", "v2-again.jsonl"):
        stats = load_snapshot(session_factory, _write(tmp_path / name, [revised, *records[1:]]))
    assert (stats.updated, stats.unchanged) == (0, 5)  # the second time nothing changed
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == revised["id"]))
        assert paper is not None
        assert (paper.title, paper.version) == ("A better title", 2)
        pending = session.scalars(
            select(Job.dedupe_key).where(
                Job.state == "queued", Job.dedupe_key == f"embed:{paper.arxiv_id}"
            )
        ).all()
        assert len(pending) == 1  # deduplicated: one embedding for the new version
        assert lexical_match_ids(session, "better") == {paper.id}


def test_bad_lines_are_reported_with_their_line_and_the_rest_loaded(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    good = _lines(SNAPSHOT)[:3]
    no_authors = dict(good[1], authors=None, authors_parsed=None, categories=None)
    path = _write(
        tmp_path / "mixed.jsonl",
        [good[0], {"id": "not an id", "title": "x"}, {"id": "2606.99999"}, no_authors],
        extra=[b"{broken json\n", b"[1, 2]\n", orjson.dumps(good[2]) + b"\n"],
    )
    stats = load_snapshot(session_factory, path)
    assert stats.new == 3
    assert stats.failed == 4
    messages = "\n".join(stats.errors)
    assert "line 2: id:" in messages
    assert "line 3: title: missing" in messages
    assert "line 5: malformed JSON" in messages
    assert "line 6: expected an object" in messages
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == good[1]["id"]))
        assert paper is not None
        assert (paper.author_names, paper.categories) == ([], [])


def test_normalize_handles_latex_withdrawn_and_versions() -> None:
    record = normalize_arxiv(
        {
            "id": "hep-th/9901001",
            "title": r"Schr\"odinger meets $\alpha$-models",
            "abstract": "This paper has been withdrawn by the author.",
            "authors": r"J. Erd\H{o}s, A. Smith and B. Jones",
            "categories": "hep-th gr-qc",
            "comments": "withdrawn",
            "versions": [
                {"version": "v2", "created": "Tue, 12 Jan 1999 10:00:00 GMT"},
                {"version": "v1", "created": "Mon, 4 Jan 1999 17:59:59 GMT"},
            ],
            "update_date": "1999-01-12",
            "journal-ref": "Phys. Rev. D 60 (1999)",
            "doi": "10.1103/PhysRevD.60.000000",
        }
    )
    assert record.arxiv_id == "hep-th/9901001"
    assert record.title == "Schrödinger meets α-models"
    assert record.title_raw == r"Schr\"odinger meets $\alpha$-models"
    assert record.authors == ("J. Erdős", "A. Smith", "B. Jones")
    assert record.version == 2
    assert record.published_at is not None
    assert record.published_at.day == 4
    assert record.withdrawn
    with pytest.raises(RecordError, match="title"):
        normalize_arxiv({"id": "2606.00001", "title": ""})


def test_hf_daily_on_top_of_the_snapshot_keeps_the_arxiv_metadata(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    record = _lines(SNAPSHOT)[0]
    load_snapshot(session_factory, _write(tmp_path / "one.jsonl", [record]))
    daily = {
        "arxiv_id": record["id"], "daily_date": "2026-06-18", "title": record["title"],
        "authors": ["Someone Else"], "abstract": "", "upvotes": 5,
    }  # fmt: skip
    load_hf_daily(session_factory, settings, _write(tmp_path / "daily.jsonl", [daily]))
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == record["id"]))
        assert paper is not None
        assert paper.abstract == record["abstract"].replace("\n", " ").strip() or paper.abstract
        assert paper.daily_entry is not None
        assert paper.external_upvotes == 5


def _processes_reading(path: Path, *, within_seconds: float) -> list[int]:
    """Pids whose command line names ``path``, after waiting up to ``within_seconds`` for none."""
    deadline = time.monotonic() + within_seconds
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if str(path).encode() in cmdline:
                    pids.append(int(entry.name))
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def test_kill_9_halfway_then_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """A real `dailypapers ingest snapshot` process killed with SIGKILL mid-load, then rerun."""
    records = _lines(SNAPSHOT)  # 150 real records
    big = tmp_path / "big.jsonl"
    # Repeat with new ids so the load takes long enough to be killed in the middle.
    expanded = []
    for copy in range(40):
        for record in records:
            month = f"{23 + copy // 12:02d}{copy % 12 + 1:02d}"  # a real YYMM per copy
            expanded.append(dict(record, id=f"{month}.{str(record['id']).split('.')[1]}"))
    _write(big, expanded)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env["DAILYPAPERS_DATA_DIR"] = str(tmp_path / "killed")
    command = [
        sys.executable,
        "-m",
        "dailypapers.cli",
        "ingest",
        "snapshot",
        str(big),
        "--batch-size",
        "200",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    settings = Settings(data_dir=tmp_path / "killed")
    database = tmp_path / "killed" / "dailypapers.sqlite3"
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        if database.exists():
            engine = make_engine(settings)
            try:
                with engine.connect() as connection:
                    stored = connection.execute(text("SELECT count(*) FROM papers")).scalar() or 0
            except Exception:  # the schema may not exist yet
                stored = 0
            finally:
                engine.dispose()
            if stored >= 1000:
                break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < stored < len(expanded), "the load was not caught in the middle"
    # The preparing child notices its parent is gone and ends too (no orphan left waiting).
    assert _processes_reading(big, within_seconds=15) == []

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after line" in resumed.stderr

    clean_settings = Settings(data_dir=tmp_path / "clean")
    env_clean = dict(env, DAILYPAPERS_DATA_DIR=str(tmp_path / "clean"))
    subprocess.run(command, env=env_clean, check=True, capture_output=True, timeout=300)
    counts = []
    for folder_settings in (settings, clean_settings):
        engine = make_engine(folder_settings)
        counts.append(_table_counts(make_session_factory(engine)))
        engine.dispose()
    assert counts[0] == counts[1]
    assert counts[0]["Paper"] == len(expanded)


def test_parallel_preparation_gives_the_same_rows(
    tmp_path: Path, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """The two-process load stores exactly what the in-process load stores."""
    from dailypapers import migrate

    results = []
    for parallel in (False, True):
        update: dict[str, object] = {"data_dir": tmp_path / str(parallel)}
        if settings.database_url:  # PostgreSQL: a database of its own for each load
            update["database_url"] = request.getfixturevalue("postgres_databases").new()
        folder_settings = settings.model_copy(update=update)
        engine = make_engine(folder_settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        stats = load_snapshot(factory, LISTINGS, parallel=parallel, batch_size=40)
        with factory() as session:
            rows = session.execute(
                select(
                    Paper.arxiv_id, Paper.title, Paper.author_names, Paper.listing_date
                ).order_by(Paper.arxiv_id)
            ).all()
        results.append((stats.new, stats.failed, [tuple(row) for row in rows]))
        engine.dispose()
    assert results[0] == results[1]
    assert results[0][0] == 150


def test_versions_only_move_forward_and_accumulate(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    record = dict(_lines(SNAPSHOT)[0])
    record["versions"] = [
        {"version": "v1", "created": "Mon, 1 Jun 2026 10:00:00 GMT"},
        {"version": "v2", "created": "Mon, 8 Jun 2026 10:00:00 GMT"},
        {"version": "v3", "created": "Mon, 15 Jun 2026 10:00:00 GMT"},
    ]
    record["update_date"] = "2026-06-15"
    load_snapshot(session_factory, _write(tmp_path / "v3.jsonl", [record]))
    older = dict(record, versions=[record["versions"][0]], update_date="2026-06-01")
    load_snapshot(session_factory, _write(tmp_path / "older.jsonl", [older]))
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == record["id"]))
        assert paper is not None
        assert paper.version == 3
        assert paper.revised_at is not None
        assert paper.revised_at.day == 15
        versions = session.scalars(
            select(PaperVersion.version).where(PaperVersion.paper_id == paper.id)
        ).all()
        assert sorted(versions) == [1, 2, 3]


def test_a_record_without_authors_or_abstract_keeps_the_stored_ones(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    record = _lines(LISTINGS)[0]
    load_snapshot(session_factory, _write(tmp_path / "full.jsonl", [record]))
    sparse = dict(record, authors=None, authors_list=None, abstract=None, comments="new comment")
    stats = load_snapshot(session_factory, _write(tmp_path / "sparse.jsonl", [sparse]))
    assert stats.updated == 1
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == record["id"]))
        assert paper is not None
        assert paper.author_names == record["authors_list"]
        assert paper.abstract.startswith(str(record["abstract"]).split()[0])
        assert paper.comments == "new comment"
        links = session.scalar(
            select(func.count()).select_from(PaperAuthor).where(PaperAuthor.paper_id == paper.id)
        )
        assert links == len(record["authors_list"])


def test_unusable_values_are_reported_and_the_load_goes_on(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    good = _lines(SNAPSHOT)[:3]
    lone_surrogate = b'{"id": "2606.90001", "title": "Lone \\ud800 surrogate \\uffff"}\n'
    huge_version = dict(good[1], versions=[{"version": "v99999999999999999999", "created": "x"}])
    far_past = dict(good[2], versions=[{"version": "v1", "created": "0001-01-01T00:00:00+05:00"}])
    path = _write(tmp_path / "odd.jsonl", [good[0], huge_version, far_past], extra=[lone_surrogate])
    for parallel in (False, True):
        stats = load_snapshot(session_factory, path, parallel=parallel)
        assert stats.failed == 2, stats.errors
        assert (
            "line 3: versions.created: '0001-01-01T00:00:00+05:00' is out of range"
            in stats.errors[0]
        )
        assert "line 4: malformed JSON" in stats.errors[1]  # orjson refuses lone surrogates
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 2


def test_the_same_paper_twice_in_one_batch_counts_once(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    record = _lines(SNAPSHOT)[0]
    stats = load_snapshot(session_factory, _write(tmp_path / "twice.jsonl", [record, record]))
    assert (stats.new, stats.unchanged) == (1, 1)


@pytest.mark.sqlite_only  # compares SQLite's json_each path with the portable one
def test_links_and_jobs_built_in_sqlite_match_the_portable_path(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite builds author links and embedding jobs by SQL; other databases in Python."""
    import datetime as dt

    from dailypapers import migrate
    from dailypapers.ingest import upsert_arxiv

    records = _lines(SNAPSHOT)
    first = _write(tmp_path / "first.jsonl", records[:100])
    # Changed author lists (reordered, a new name) mixed with new papers in one batch.
    changed = [
        dict(r, authors=", ".join([*str(r["authors"]).split(", ")[::-1], "Zoë Ångström"]))
        for r in records[:30]
    ]
    second = _write(tmp_path / "second.jsonl", [*records[100:], *changed])
    now = dt.datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    tables = {
        "authors": "SELECT * FROM authors ORDER BY id",
        "paper_authors": "SELECT rowid, * FROM paper_authors ORDER BY rowid",
        "jobs": "SELECT * FROM jobs ORDER BY id",
        "papers": "SELECT id, arxiv_id, author_names, authors_text FROM papers ORDER BY id",
    }
    results = []
    for in_sqlite in (True, False):
        monkeypatch.setattr(
            upsert_arxiv, "_builds_in_sqlite", lambda _connection, answer=in_sqlite: answer
        )
        folder = settings.model_copy(update={"data_dir": tmp_path / str(in_sqlite)})
        engine = make_engine(folder)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        stats = [load_snapshot(factory, first, batch_size=60, clock=lambda: now).summary()]
        with engine.begin() as connection:  # embedded, so changed papers queue new jobs
            connection.execute(text("UPDATE jobs SET state = 'done'"))
        stats.append(load_snapshot(factory, second, batch_size=60, clock=lambda: now).summary())
        with engine.connect() as connection:
            rows = {name: connection.execute(text(sql)).all() for name, sql in tables.items()}
        results.append((stats, rows))
        engine.dispose()
    assert results[0] == results[1]
    stats, rows = results[0]
    assert stats == [
        "100 new, 0 updated, 0 unchanged, 0 failed",
        "50 new, 30 updated, 0 unchanged, 0 failed",
    ]
    assert any(row[1] == "Zoë Ångström" for row in rows["authors"])
    assert len(rows["jobs"]) == 180


def test_a_load_restores_the_collector_settings(session_factory: sessionmaker[Session]) -> None:
    import gc

    before = (gc.get_threshold(), gc.get_freeze_count())
    load_snapshot(session_factory, SNAPSHOT, parallel=True)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
