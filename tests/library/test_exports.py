"""Exports on the demo month's store: each format imports back into a fresh account as the same
library; the JSON of everything restores collections and marks; the account export holds it
all and the account's deletion leaves no library row."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers import accounts
from dailypapers.config import Settings
from dailypapers.library import (
    LibraryError,
    NotFoundError,
    collections,
    exports,
    imports,
    marks,
    saves,
)
from dailypapers.library.saves import note_of, set_note
from dailypapers.models import (
    Collection,
    CollectionPaper,
    LibraryImport,
    Note,
    Paper,
    PaperMark,
    Save,
    User,
)
from tests.library.helpers import NOW, saved_ids, user_named
from tests.support.database import db_session

pytestmark = pytest.mark.both_backends


def _notes(session: Session, user: User) -> dict[str, str]:
    return dict(
        session.execute(
            select(Paper.arxiv_id, Note.body)
            .join(Note, Note.paper_id == Paper.id)
            .where(Note.user_id == user.id)
        ).all()
    )


def _library(session: Session, user: User, n: int) -> list[Paper]:
    """Any demo papers (titles with LaTeX, accents, markup) saved, two with notes, one in a
    collection, one read and one dismissed."""
    papers = list(session.scalars(select(Paper).order_by(Paper.id.desc()).limit(n)))
    for paper in papers:
        saves.save(session, user, paper.id, NOW)
    set_note(session, user, papers[0].id, "**Key** result\n\n- see §3 & {braces}", NOW)
    set_note(session, user, papers[1].id, "<script>x</script> café", NOW)
    shelf = collections.create_collection(
        session, user, "Reading group", description="Tuesdays", is_public=True, now=NOW
    )
    collections.add_to_collection(session, user, shelf.id, [papers[0].id, papers[2].id], NOW)
    marks.set_mark(session, user, papers[3].id, "read", on=True, now=NOW)
    marks.set_mark(session, user, papers[4].id, "dismissed", on=True, now=NOW)
    session.commit()
    return papers


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("bibtex", ".bib"), ("csl_json", ".json"), ("ris", ".ris")]
)
def test_export_then_import_gives_back_the_same_library(
    demo_settings: Settings, fmt: str, suffix: str
) -> None:
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        _library(session, owner, 60)
        filename, media_type, body = exports.export_library(session, owner, fmt, None)
        assert filename == f"library{suffix}"
        assert "charset=utf-8" in media_type
        fresh = user_named(session, demo_settings, "fresh")
        started = imports.start_import(
            session, demo_settings, fresh, body.encode(), filename, collection_name=None, now=NOW
        )
        session.commit()
        assert started.state == "done"
        assert {o["outcome"] for o in started.outcomes} == {"matched"}
        assert {o["matched_by"] for o in started.outcomes} == {"arxiv_id"}
        assert saved_ids(session, fresh) == saved_ids(session, owner)
        expected_notes = _notes(session, owner)
        if fmt == "ris":  # RIS trims each note line (docs/library-formats.md)
            expected_notes = {
                k: "\n".join(line.strip() for line in v.splitlines())
                for k, v in expected_notes.items()
            }
        assert _notes(session, fresh) == expected_notes


def test_a_collection_exports_alone(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        papers = _library(session, owner, 10)
        shelf = collections.collection_named(session, owner, "Reading group")
        assert shelf is not None
        filename, _, body = exports.export_library(session, owner, "bibtex", shelf.id)
        assert filename == "reading-group.bib"
        assert body.count("@misc{") == 2
        assert f"eprint={{{papers[0].arxiv_id}}}" in body
        assert "abstract" not in body
        other = user_named(session, demo_settings, "other")
        with pytest.raises(NotFoundError):
            exports.export_library(session, other, "ris", shelf.id)
        with pytest.raises(LibraryError, match="Export formats"):
            exports.export_library(session, owner, "docx", None)


def test_the_json_of_everything_restores_saves_collections_notes_and_marks(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        papers = _library(session, owner, 12)
        filename, media_type, body = exports.export_library(session, owner, "json", None)
        assert (filename, media_type) == ("library.json", "application/json; charset=utf-8")
        document = json.loads(body)
        assert document == exports.library_export_data(session, owner)
        members = {papers[0].arxiv_id, papers[2].arxiv_id}
        assert set(document["collections"][0]["papers"]) == members
        fresh = user_named(session, demo_settings, "fresh")
        started = imports.start_import(
            session, demo_settings, fresh, body.encode(), filename, collection_name=None, now=NOW
        )
        session.commit()
        assert started.format == "library_json"
        assert started.state == "done"
        assert saved_ids(session, fresh) == saved_ids(session, owner)
        assert _notes(session, fresh) == _notes(session, owner)
        restored = exports.library_export_data(session, fresh)
        assert restored["collections"] == document["collections"]
        assert restored["marks"] == document["marks"]
        assert restored["saves"] == document["saves"]
        note = note_of(session, fresh, papers[1].id)
        assert note is not None
        assert "<script" not in note.body_html


def test_account_export_holds_the_library_and_deletion_removes_it(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        keeper = user_named(session, demo_settings, "keeper")
        papers = _library(session, owner, 5)
        _library(session, keeper, 5)
        for user in (owner, keeper):
            imports.start_import(
                session,
                demo_settings,
                user,
                papers[0].arxiv_id.encode(),
                None,
                collection_name="Reading group",
                now=NOW,
            )
        marks.mark_opened(session, owner, papers[0].id, NOW)
        session.commit()
        data = accounts.export_data(session, owner)
        assert data["library"] == exports.library_export_data(session, owner)
        assert len(data["library"]["saves"]) == 5
        owner_id, keeper_id = owner.id, keeper.id

        accounts.delete_account(session, demo_settings, owner)
        session.commit()
        session.expire_all()
        for model in (Save, Collection, Note, PaperMark, LibraryImport):
            assert (
                session.scalar(
                    select(func.count()).select_from(model).where(model.user_id == owner_id)
                )
                == 0
            ), model.__name__
            assert session.scalar(
                select(func.count()).select_from(model).where(model.user_id == keeper_id)
            ), model.__name__
        members = session.scalar(select(func.count()).select_from(CollectionPaper))
        assert members == 2  # the keeper's collection only


def test_a_hand_made_library_json_keeps_what_it_can(demo_settings: Settings) -> None:
    """An integer too long for Python (once a 500), a collection whose name is too long (once
    the whole file refused) and ``papers`` given as one string (once read letter by letter)
    spoil nothing else."""
    with db_session(demo_settings) as session:
        first, second = session.scalars(select(Paper).order_by(Paper.id).limit(2))
        document = {
            "format": exports.LIBRARY_JSON_FORMAT,
            "version": 1,
            "saves": [{"arxiv_id": first.arxiv_id}, {"arxiv_id": second.arxiv_id}],
            "collections": [
                {"name": "x" * 500, "papers": [first.arxiv_id]},
                {"name": "Kept", "papers": [first.arxiv_id]},
                {"name": "One string", "papers": second.arxiv_id},
            ],
        }
        body = json.dumps(document)[:-1] + ', "size": ' + "9" * 5_000 + "}"
        fresh = user_named(session, demo_settings, "fresh")
        started = imports.start_import(
            session,
            demo_settings,
            fresh,
            body.encode(),
            "library.json",
            collection_name=None,
            now=NOW,
        )
        session.commit()
        assert started.format == "library_json"
        assert [o["outcome"] for o in started.outcomes] == ["matched", "matched"]
        assert saved_ids(session, fresh) == {first.arxiv_id, second.arxiv_id}
        shelves = {shelf.name: count for shelf, count in collections.collections_of(session, fresh)}
        assert shelves == {"Kept": 1, "One string": 0}


def test_the_account_export_imports_as_a_library(demo_settings: Settings) -> None:
    """ "Download your data" then import it into a fresh account: the library comes back."""
    with db_session(demo_settings) as session:
        owner = user_named(session, demo_settings, "owner")
        _library(session, owner, 6)
        body = json.dumps(accounts.export_data(session, owner), default=str).encode()
        fresh = user_named(session, demo_settings, "fresh")
        started = imports.start_import(
            session,
            demo_settings,
            fresh,
            body,
            "dailypapers-owner.json",
            collection_name=None,
            now=NOW,
        )
        session.commit()
        assert started.format == "library_json"
        assert saved_ids(session, fresh) == saved_ids(session, owner)
        assert _notes(session, fresh) == _notes(session, owner)
