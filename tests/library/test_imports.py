"""Imports on the demo month's real store: per-entry outcomes of every format, bad files, the
chunked job and its re-run after a crash, fetching from a fake arXiv, offline, arXiv down."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, write_transaction
from dailypapers.jobs import JobContext
from dailypapers.library import LibraryError, NotFoundError, imports, saves
from dailypapers.library.collections import collection_named, collections_of, create_collection
from dailypapers.models import LibraryImport, Paper, Save, User
from tests.library.helpers import (
    FETCHABLE,
    NOW,
    fake_arxiv,
    library_jobs,
    outcomes,
    plain_papers,
    run_library_jobs,
    saved_ids,
    user_named,
)
from tests.support.database import db_session, make_settings

pytestmark = pytest.mark.both_backends
MISSING_ID = "2606.99999"  # well formed; the fake arXiv's answer does not hold it


def _bibtex(stored_id: str, title: str) -> str:
    return f"""
@misc{{byid, title={{Whatever the file calls it}}, eprint={{{stored_id}v3}},
  archivePrefix={{arXiv}}, note={{Read *this* first}}}}

@inproceedings{{bytitle, title={{{title.upper()}}}, author={{Doe, Jane}}, year={{2026}}}}

@misc{{fetch, title={{Trajectory Forcing}}, eprint={{{FETCHABLE}}}}}

@article{{broken, title={{Unbalanced {{braces, year={{2026}}}}

@article{{unknown, title={{No Such Paper Anywhere At All}}, year={{2026}}}}
"""


def _csl(stored_id: str, title: str) -> str:
    return json.dumps(
        [
            {"type": "article", "title": "x", "URL": f"https://arxiv.org/abs/{stored_id}"},
            {"type": "paper-conference", "title": title.lower()},
            {"type": "article", "title": "y", "DOI": f"10.48550/arXiv.{FETCHABLE}"},
            "not an object",
            {"type": "article", "title": "No Such Paper Anywhere At All"},
        ]
    )


def _ris(stored_id: str, title: str) -> str:
    return (
        f"TY  - GEN\nTI  - x\nUR  - https://arxiv.org/abs/{stored_id}\nN1  - Read *this* first\n"
        f"ER  - \n\nTY  - CONF\nTI  - {title}\nER  - \n\n"
        f"TY  - GEN\nUR  - https://huggingface.co/papers/{FETCHABLE}\nER  - \n\n"
        "TY  - GEN\nPY  - 2026\nER  - \n\n"
        "TY  - JOUR\nTI  - No Such Paper Anywhere At All\nER  - \n"
    )


def _ids(stored_id: str, _title: str) -> str:
    return (
        f"{stored_id}v2\nhttps://huggingface.co/papers/{stored_id}  # twice: one save\n"
        f"arXiv:{FETCHABLE}\nnot an id\n{MISSING_ID}\n"
    )


# (file name, writer, expected (index, line, outcome, matched_by) before the fetch job).
CASES = {
    "bibtex": (
        "mine.bib",
        _bibtex,
        [
            (1, 2, "matched", "arxiv_id"),
            (2, 5, "matched", "title"),
            (3, 7, "pending", None),
            (4, 9, "unparseable", None),
            (5, 11, "not_found", None),
        ],
    ),
    "csl_json": (
        "zotero.json",
        _csl,
        [
            (1, None, "matched", "arxiv_id"),
            (2, None, "matched", "title"),
            (3, None, "pending", None),
            (4, None, "unparseable", None),
            (5, None, "not_found", None),
        ],
    ),
    "ris": (
        "export.ris",
        _ris,
        [
            (1, 1, "matched", "arxiv_id"),
            (2, 7, "matched", "title"),
            (3, 11, "pending", None),
            (4, 15, "unparseable", None),
            (5, 19, "not_found", None),
        ],
    ),
    "ids": (
        None,
        _ids,
        [
            (1, 1, "matched", "arxiv_id"),
            (2, 2, "matched", "arxiv_id"),
            (3, 3, "pending", None),
            (4, 4, "unparseable", None),
            (5, 5, "pending", None),
        ],
    ),
}


@pytest.mark.parametrize("fmt", list(CASES))
def test_each_format_gives_every_entry_its_outcome(demo_settings: Settings, fmt: str) -> None:
    filename, write, expected = CASES[fmt]
    with fake_arxiv(demo_settings) as (settings, remote), db_session(settings) as session:
        user = user_named(session, settings, "reader")
        by_id, by_title = plain_papers(session, 2)
        data = write(by_id.arxiv_id, by_title.title).encode()
        started = imports.start_import(
            session, settings, user, data, filename, collection_name="Imported", now=NOW
        )
        session.commit()
        assert started.format == fmt
        assert started.state == "fetching"
        assert started.total == started.processed == 5
        found = outcomes(session, started.id)
        assert [(i, line, o, by) for i, line, o, _, by in found] == expected
        assert found[0][3] == by_id.arxiv_id
        if fmt != "ids":
            assert found[1][3] == by_title.arxiv_id
        assert saved_ids(session, user) >= {by_id.arxiv_id}
        if fmt in ("bibtex", "ris"):
            note = saves.note_of(session, user, by_id.id)
            assert note is not None
            assert note.body == "Read *this* first"

        stats = run_library_jobs(settings)
        assert (stats.done, stats.failed) == (1, 0)
        requests = [q for path, q in remote.requests if path == "/api/query"]
        assert len(requests) == 1  # every pending id in one API call
        finished = outcomes(session, started.id)
        assert finished[2][2:] == ("fetched", FETCHABLE, "arxiv_id")
        if fmt == "ids":
            assert finished[4][2] == "not_found"
            assert requests[0]["id_list"] == f"{FETCHABLE},{MISSING_ID}"
        library_import = imports.import_status(session, user, started.id)
        assert library_import.state == "done"
        assert library_import.finished_at is not None
        assert FETCHABLE in saved_ids(session, user)
        shelf = collection_named(session, user, "Imported")
        assert shelf is not None
        expected_count = 2 if fmt == "ids" else 3
        assert collections_of(session, user) == [(shelf, expected_count)]
        counts = imports.outcome_counts(library_import)
        assert counts["pending"] == 0
        assert sum(counts.values()) == 5
        reasons = {o["outcome"]: o["reason"] for o in library_import.outcomes}
        assert reasons["matched"] is None
        assert reasons["unparseable"]


def test_a_note_never_replaces_the_users_own(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        user = user_named(session, demo_settings, "reader")
        paper = plain_papers(session, 1)[0]
        saves.set_note(session, user, paper.id, "mine", NOW)
        data = f"@misc{{k, eprint={{{paper.arxiv_id}}}, note={{theirs}}}}".encode()
        imports.start_import(
            session, demo_settings, user, data, "a.bib", collection_name=None, now=NOW
        )
        note = saves.note_of(session, user, paper.id)
        assert note is not None
        assert note.body == "mine"


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "a.bib", "The file is empty"),
        (b" \n\x00\n", None, "The file is empty"),
        (b'{"items": []}', "zotero.json", "not a JSON array|array"),
        (b"[1, 2", "zotero.json", "cannot be imported"),
        (b"x" * (10 * 1024 * 1024 + 1), "big.bib", "10 MiB"),
        (b"% only a comment\n", "a.bib", "No entries were found"),
    ],
)
def test_files_refused_whole_say_why(
    demo_settings: Settings, data: bytes, filename: str | None, message: str
) -> None:
    with db_session(demo_settings) as session:
        user = user_named(session, demo_settings, "reader")
        with pytest.raises(LibraryError, match=message):
            imports.start_import(
                session, demo_settings, user, data, filename, collection_name=None, now=NOW
            )
        assert session.scalar(select(func.count()).select_from(LibraryImport)) == 0


def test_malformed_entries_are_reported_and_the_rest_kept(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        user = user_named(session, demo_settings, "reader")
        first, second, third = plain_papers(session, 3)
        bibtex = (
            f"@misc{{a, eprint={{{first.arxiv_id}}}}}\n"
            "@misc{b, title={Unbalanced {braces}\n"
            f"@misc{{c, eprint={{{second.arxiv_id}}}, year={{99999999999999999999}}}}\n"
        ).encode()
        ris = (
            f"TY  - GEN\nUR  - https://arxiv.org/abs/{third.arxiv_id}\n"  # no ER: kept
            "TY  - GEN\nTI  - No Such Paper Anywhere At All\x00\nER  - \n"
        ).encode()
        one = imports.start_import(
            session, demo_settings, user, bibtex, "a.bib", collection_name=None, now=NOW
        )
        two = imports.start_import(
            session, demo_settings, user, ris, "b.ris", collection_name=None, now=NOW
        )
        session.commit()
        assert [o[2] for o in outcomes(session, one.id)] == ["matched", "unparseable", "matched"]
        assert [(o[1], o[2]) for o in outcomes(session, two.id)] == [
            (1, "matched"),
            (3, "not_found"),
        ]
        assert saved_ids(session, user) == {first.arxiv_id, second.arxiv_id, third.arxiv_id}


def _import_ids(session: Session, settings: Settings, user: User, *ids: str) -> LibraryImport:
    data = "\n".join(ids).encode()
    started = imports.start_import(
        session, settings, user, data, None, collection_name=None, now=NOW
    )
    session.commit()
    return started


def test_offline_never_asks_arxiv(demo_settings: Settings) -> None:
    with fake_arxiv(demo_settings, offline=True) as (settings, remote):
        with db_session(settings) as session:
            user = user_named(session, settings, "reader")
            started = _import_ids(session, settings, user, FETCHABLE)
            assert started.state == "done"
            (outcome,) = started.outcomes
            assert outcome["outcome"] == "not_found"
            assert "offline" in outcome["reason"]
            assert library_jobs(session) == []
        assert remote.requests == []


def test_arxiv_down_is_retried_then_reported_not_found(demo_settings: Settings) -> None:
    with fake_arxiv(demo_settings, job_max_attempts=2) as (settings, remote):
        remote.faults.extend([("status", 503), ("status", 503)])
        with db_session(settings) as session:
            user = user_named(session, settings, "reader")
            started = _import_ids(session, settings, user, FETCHABLE)
            stats = run_library_jobs(settings)
            assert (stats.retried, stats.done, stats.failed) == (1, 1, 0)
            assert len(remote.requests) == 2
            (outcome,) = outcomes(session, started.id)
            assert outcome[2] == "not_found"
            library_import = imports.import_status(session, user, started.id)
            assert "arXiv could not be asked" in library_import.outcomes[0]["reason"]
            assert library_import.state == "done"
            assert FETCHABLE not in saved_ids(session, user)


def test_arxiv_back_on_the_retry_fetches(demo_settings: Settings) -> None:
    with fake_arxiv(demo_settings, job_max_attempts=3) as (settings, remote):
        remote.faults.append(("drop",))
        with db_session(settings) as session:
            user = user_named(session, settings, "reader")
            started = _import_ids(session, settings, user, FETCHABLE)
            stats = run_library_jobs(settings)
            assert (stats.retried, stats.done) == (1, 1)
            assert outcomes(session, started.id)[0][2] == "fetched"


def _large_file(session_ids: list[str], extra_missing: int) -> bytes:
    lines = [*session_ids, *(f"2612.{n:05d}" for n in range(extra_missing))]
    return "\n".join(lines).encode()


def test_a_large_import_runs_as_a_job_by_chunks_and_survives_a_crash(
    demo_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        demo_settings.data_dir, database_url=demo_settings.database_url, offline=True
    )
    with db_session(settings) as session:
        user = user_named(session, settings, "reader")
        stored = list(session.scalars(select(Paper.arxiv_id).order_by(Paper.id)))
        data = _large_file(stored, 1_200 - len(stored))
        started = imports.start_import(
            session, settings, user, data, "big.txt", collection_name=None, now=NOW
        )
        session.commit()
        assert (started.state, started.total, started.processed) == ("matching", 1_200, 0)
        assert started.outcomes == []
        (job,) = library_jobs(session)
        assert job.kind == "library_import"
        assert job.priority == 0

        real = imports.match_chunk
        calls: list[int] = []

        def crash_on_the_second_chunk(*args: object, **kwargs: object) -> None:
            real(*args, **kwargs)  # type: ignore[arg-type]
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("worker killed mid-chunk")

        monkeypatch.setattr(imports, "match_chunk", crash_on_the_second_chunk)
        stats = run_library_jobs(settings, step=dt.timedelta(0))
        assert stats.retried == 1
        session.expire_all()
        library_import = imports.import_status(session, user, started.id)
        assert library_import.processed == imports.CHUNK_SIZE  # the first chunk's commit
        assert len(library_import.outcomes) == imports.CHUNK_SIZE
        assert library_import.state == "matching"

        monkeypatch.setattr(imports, "match_chunk", real)
        stats = run_library_jobs(settings)
        assert (stats.done, stats.failed) == (1, 0)
        session.expire_all()
        library_import = imports.import_status(session, user, started.id)
        assert library_import.state == "done"
        assert library_import.processed == 1_200
        assert [o["index"] for o in library_import.outcomes] == list(range(1, 1_201))
        counts = imports.outcome_counts(library_import)
        assert counts["matched"] == len(stored)
        assert counts["not_found"] == 1_200 - len(stored)
        assert session.scalar(select(func.count()).where(Save.user_id == user.id)) == len(stored)

        # The job run again (a worker that died after the work, before marking it done).
        engine = make_engine(settings)
        context = JobContext(settings, engine, make_session_factory(engine), NOW)
        imports.run_import_job(context, {"import_id": started.id})
        engine.dispose()
        session.expire_all()
        assert len(imports.import_status(session, user, started.id).outcomes) == 1_200


def test_imports_are_private_to_their_owner(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        other = user_named(session, demo_settings, "other")
        paper = plain_papers(session, 1)[0]
        started = imports.start_import(
            session,
            demo_settings,
            owner,
            paper.arxiv_id.encode(),
            None,
            collection_name=None,
            now=NOW,
        )
        session.commit()
        assert imports.import_status(session, owner, started.id).id == started.id
        with pytest.raises(NotFoundError):
            imports.import_status(session, other, started.id)
        with pytest.raises(NotFoundError):
            imports.import_status(session, other, started.id + 999)
        assert imports.recent_imports(session, other, 10) == []
        assert [i.id for i in imports.recent_imports(session, owner, 10)] == [started.id]


def test_an_import_naming_a_collection_made_at_that_moment_uses_it(
    demo_settings: Settings,
) -> None:
    """Two tabs importing into the same new collection: the second waits on the first's
    insert and then used to fail whole ("You already have a collection named …")."""
    engine = make_engine(demo_settings)
    factory = make_session_factory(engine)
    with factory() as session:
        user = user_named(session, demo_settings, "racer")
        session.commit()
        user_id = user.id
        (paper,) = plain_papers(session, 1)
        arxiv_id = paper.arxiv_id
    results: list[object] = []
    started = threading.Event()

    def second_tab() -> None:
        with factory() as session:
            racer = session.get(User, user_id)
            assert racer is not None
            started.set()
            try:
                with write_transaction(session):
                    row = imports.start_import(
                        session,
                        demo_settings,
                        racer,
                        arxiv_id.encode(),
                        None,
                        collection_name="Race",
                        now=NOW,
                    )
                    results.append(row.outcomes[0]["outcome"])
            except LibraryError as exc:
                results.append(exc)

    with factory() as first:
        racer = first.get(User, user_id)
        assert racer is not None
        with write_transaction(first):
            create_collection(first, racer, "Race", now=NOW)
            thread = threading.Thread(target=second_tab)
            thread.start()
            started.wait()
            thread.join(timeout=1.0)  # the second tab now waits on this insert
    thread.join()
    with factory() as session:
        racer = session.get(User, user_id)
        assert racer is not None
        shelves = [(shelf.name, count) for shelf, count in collections_of(session, racer)]
    engine.dispose()
    assert results == ["matched"]
    assert shelves == [("Race", 1)]
