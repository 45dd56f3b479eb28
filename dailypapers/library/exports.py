"""A collection or the whole library out: BibTeX, CSL JSON, RIS, or the JSON of everything.

The citation files carry each visible paper's id, title, authors, date, primary category and
the user's note, newest save first; no abstract, so even a large library stays under the
import limit when it comes back (docs/library-formats.md). The JSON of everything
(``library_export_data``, also part of the account export) holds every save, collection, note
and reading mark, and imports back as a restore (``dailypapers.library.restore``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.citations import CitedPaper, write_bibtex, write_csl_json, write_ris
from dailypapers.library import LibraryError
from dailypapers.library.collections import own_collection
from dailypapers.library.listing import library_paper_ids
from dailypapers.models import Collection, CollectionPaper, Note, Paper, PaperMark, Save, User

ExportFormat = Literal["bibtex", "csl_json", "ris", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
# The JSON of everything says what it is, so an import knows it from a CSL JSON file.
LIBRARY_JSON_FORMAT = "dailypapers-library"
LIBRARY_JSON_VERSION = 1

_WRITERS: dict[str, tuple[Callable[[Iterable[CitedPaper]], str], str, str]] = {
    "bibtex": (write_bibtex, "application/x-bibtex; charset=utf-8", "bib"),
    "csl_json": (write_csl_json, "application/vnd.citationstyles.csl+json; charset=utf-8", "json"),
    "ris": (write_ris, "application/x-research-info-systems; charset=utf-8", "ris"),
}
_SLUG = re.compile(r"[^a-z0-9]+")
ID_CHUNK = 900  # ids per IN (...): under SQLite's old 999-variable limit


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def cited_papers(session: Session, user: User, paper_ids: Sequence[int]) -> list[CitedPaper]:
    """The papers as the citation writers take them, with the user's notes, in order."""
    by_id: dict[int, Paper] = {}
    notes: dict[int, str] = {}
    for chunk in _chunks(paper_ids):
        by_id.update((p.id, p) for p in session.scalars(select(Paper).where(Paper.id.in_(chunk))))
        notes.update(
            session.execute(
                select(Note.paper_id, Note.body).where(
                    Note.user_id == user.id, Note.paper_id.in_(chunk)
                )
            ).all()
        )
    return [
        CitedPaper(
            arxiv_id=paper.arxiv_id,
            title=paper.title,
            authors=tuple(paper.author_names or ()),
            published=paper.published_at.date() if paper.published_at is not None else None,
            primary_category=paper.categories[0] if paper.categories else None,
            abstract=None,
            note=notes.get(paper.id),
        )
        for paper in (by_id[i] for i in paper_ids if i in by_id)
    ]


def export_library(
    session: Session, user: User, fmt: str, collection_id: int | None = None
) -> tuple[str, str, str]:
    """(filename, media type, body) of the library or one of the user's collections.

    :raises NotFoundError: the collection is not the user's.
    :raises LibraryError: an unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise LibraryError(f"Export formats are {', '.join(EXPORT_FORMATS)}, not {fmt!r}.")
    stem = "library"
    if collection_id is not None:
        collection = own_collection(session, user, collection_id)
        stem = _SLUG.sub("-", collection.name.lower()).strip("-") or f"collection-{collection.id}"
    if fmt == "json":
        data = library_export_data(session, user, collection_id=collection_id)
        body = json.dumps(data, ensure_ascii=False, indent=1)
        return f"{stem}.json", "application/json; charset=utf-8", body
    writer, media_type, extension = _WRITERS[fmt]
    papers = cited_papers(session, user, library_paper_ids(session, user, collection_id))
    return f"{stem}.{extension}", media_type, writer(papers)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def library_export_data(
    session: Session, user: User, *, collection_id: int | None = None
) -> dict[str, Any]:
    """Everything the user keeps, JSON-ready: saves, collections (with their papers), notes
    (Markdown as written) and reading marks. With ``collection_id``: only that collection and
    what concerns its papers."""
    in_scope: Any = None
    if collection_id is not None:
        in_scope = select(CollectionPaper.paper_id).where(
            CollectionPaper.collection_id == collection_id
        )

    def scoped(query: Any, paper_id: Any) -> Any:
        return query if in_scope is None else query.where(paper_id.in_(in_scope))

    saves = session.execute(
        scoped(
            select(Paper.arxiv_id, Paper.title, Save.saved_at)
            .join(Save, Save.paper_id == Paper.id)
            .where(Save.user_id == user.id),
            Save.paper_id,
        ).order_by(Save.saved_at, Paper.id)
    ).all()
    collection_query = select(Collection).where(Collection.user_id == user.id)
    if collection_id is not None:
        collection_query = collection_query.where(Collection.id == collection_id)
    collections = list(session.scalars(collection_query.order_by(Collection.created_at)))
    members: dict[int, list[str]] = {c.id: [] for c in collections}
    for cid, arxiv_id in session.execute(
        select(CollectionPaper.collection_id, Paper.arxiv_id)
        .join(Paper, Paper.id == CollectionPaper.paper_id)
        .where(CollectionPaper.collection_id.in_(list(members)))
        .order_by(CollectionPaper.added_at, Paper.id)
    ):
        members[cid].append(arxiv_id)
    notes = session.execute(
        scoped(
            select(Paper.arxiv_id, Note.body, Note.created_at, Note.updated_at)
            .join(Note, Note.paper_id == Paper.id)
            .where(Note.user_id == user.id),
            Note.paper_id,
        ).order_by(Note.created_at, Paper.id)
    ).all()
    marks = session.execute(
        scoped(
            select(Paper.arxiv_id, PaperMark.opened_at, PaperMark.read_at, PaperMark.dismissed_at)
            .join(PaperMark, PaperMark.paper_id == Paper.id)
            .where(PaperMark.user_id == user.id),
            PaperMark.paper_id,
        ).order_by(Paper.id)
    ).all()
    return {
        "format": LIBRARY_JSON_FORMAT,
        "version": LIBRARY_JSON_VERSION,
        "saves": [{"arxiv_id": a, "title": t, "saved_at": _iso(s)} for a, t, s in saves],
        "collections": [
            {
                "name": c.name,
                "description": c.description,
                "is_public": c.is_public,
                "created_at": _iso(c.created_at),
                "papers": members[c.id],
            }
            for c in collections
        ],
        "notes": [
            {"arxiv_id": a, "body": b, "created_at": _iso(c), "updated_at": _iso(u)}
            for a, b, c, u in notes
        ],
        "marks": [
            {
                "arxiv_id": a,
                "opened_at": _iso(o),
                "read_at": _iso(r),
                "dismissed_at": _iso(d),
            }
            for a, o, r, d in marks
        ],
    }
