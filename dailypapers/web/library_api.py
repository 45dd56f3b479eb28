"""The library as JSON under ``/api/me/``: saves, collections, notes, marks, imports, exports.

A Bearer token or the session cookie (then with ``X-CSRF-Token`` on writes, as every JSON write
of the site). Saving, marking and deleting are idempotent ``PUT`` / ``DELETE``: repeating one
changes nothing. Every write counts against the library rate limit; imports against their own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.db import write_transaction
from dailypapers.library import (
    LibraryError,
    collections,
    marks,
    saves,
)
from dailypapers.library.listing import LibraryQuery, Sort, library_page
from dailypapers.models import Collection, Note, Paper, User
from dailypapers.schemas import (
    CollectionIn,
    CollectionOut,
    CollectionPaperOut,
    CollectionPatch,
    LibraryItemOut,
    LibraryOut,
    MarkOut,
    NoteIn,
    NoteOut,
    PaperStateOut,
    SaveOut,
    paper_items,
)
from dailypapers.web.deps import (
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    arxiv_id_or_400,
    paper_or_404,
)
from dailypapers.web.inputs import CollectionFilter, row_id_or_404
from dailypapers.web.library import refused
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import api
from dailypapers.web.security import ActiveUser, ApiCsrfChecked, CurrentUser, touch_token

router = APIRouter(prefix="/api/me", tags=["library"])
MAX_LIMIT = 100
ExportFormat = Annotated[str, Query(pattern="^(bibtex|csl_json|ris|json)$")]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state_out(state: marks.PaperState) -> PaperStateOut:
    return PaperStateOut(
        saved=state.saved,
        opened=state.opened,
        read=state.read,
        dismissed=state.dismissed,
        sent=state.sent,
        seen=state.seen,
    )


def _collection_out(collection: Collection, count: int) -> CollectionOut:
    return CollectionOut(
        id=collection.id,
        name=collection.name,
        description=collection.description,
        isPublic=collection.is_public,
        numPapers=count,
        createdAt=collection.created_at,
        updatedAt=collection.updated_at,
        url=f"/collections/{collection.id}",
    )


def _write(
    request: Request, session: Session, settings: SettingsDep, user: User, kind: str = "library"
) -> None:
    """Inside a handler's write transaction: the token's last use and the rate limit."""
    touch_token(request, session)
    limit_or_429(request, session, settings, user, kind)


# Reading -----------------------------------------------------------------------------------------


@router.get(
    "/library",
    response_model=LibraryOut,
    responses=api(400, 401, 404),
    summary="Your saved papers, sorted, filtered by collection, searched",
)
def library(
    session: ReadSessionDep,
    user: CurrentUser,
    collection: CollectionFilter,
    q: Annotated[str, Query(max_length=500)] = "",
    sort: Sort = "saved",
    p: Annotated[int, Query(ge=0, le=10_000, description="0-based page")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> LibraryOut:
    """``q`` takes the query language of ``/api/papers/search`` (words, phrases, ``-word``,
    filters), restricted to your papers; ``sort=relevance`` ranks by ``q`` (without words it
    is ``saved``)."""
    try:
        if collection is not None:
            collections.own_collection(session, user, collection)
        page = library_page(
            session,
            user,
            LibraryQuery(sort=sort, collection_id=collection, q=q),
            page=p,
            page_size=limit,
        )
    except LibraryError as exc:
        raise refused(exc) from None
    ids = [item.paper.id for item in page.items]
    states = marks.states_for(session, user, ids)
    held = collections.memberships(session, user, ids)
    notes = dict(
        session.execute(
            select(Note.paper_id, Note.body).where(Note.user_id == user.id, Note.paper_id.in_(ids))
        ).all()
    )
    outs = paper_items(session, [item.paper for item in page.items])
    return LibraryOut(
        items=[
            LibraryItemOut(
                item=out,
                savedAt=item.saved_at,
                collections=sorted(held.get(item.paper.id, ())),
                note=notes.get(item.paper.id),
                state=_state_out(states.get(item.paper.id, marks.NO_STATE)),
            )
            for item, out in zip(page.items, outs, strict=True)
        ],
        total=page.total,
        page=p,
        limit=limit,
    )


@router.get(
    "/states",
    response_model=dict[str, PaperStateOut],
    responses=api(400, 401),
    summary="Your saved / seen / read / dismissed state of some papers",
)
def states(
    session: ReadSessionDep,
    user: CurrentUser,
    ids: Annotated[str, Query(max_length=5_000, description="comma-separated arXiv ids")],
) -> dict[str, PaperStateOut]:
    """Papers not in the store are left out; papers you did nothing with are all false."""
    wanted = list(dict.fromkeys(arxiv_id_or_400(part) for part in ids.split(",") if part.strip()))
    if len(wanted) > MAX_LIMIT:
        raise HTTPException(400, f"Ask for at most {MAX_LIMIT} papers at a time.")
    stored = dict(
        session.execute(
            select(Paper.arxiv_id, Paper.id).where(
                Paper.arxiv_id.in_(wanted), Paper.hidden_at.is_(None)
            )
        ).all()
    )
    found = {arxiv_id: stored[arxiv_id] for arxiv_id in wanted if arxiv_id in stored}
    by_id = marks.states_for(session, user, list(found.values()))
    return {a: _state_out(by_id.get(pid, marks.NO_STATE)) for a, pid in found.items()}


# Saves and marks ----------------------------------------------------------------------------------


def _set_saved(
    request: Request, paper_id: str, session: Session, settings: SettingsDep, user: User, on: bool
) -> SaveOut:
    paper = paper_or_404(session, paper_id)
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            if on:
                saves.save(session, user, paper.id, _now())
            else:
                saves.unsave(session, user, paper.id)
        except LibraryError as exc:
            raise refused(exc) from None
    return SaveOut(paper=paper.arxiv_id, saved=on)


@router.put(
    "/saves/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=SaveOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Save a paper to your library",
)
def save(
    request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> SaveOut:
    return _set_saved(request, paper_id, session, settings, user, True)


@router.delete(
    "/saves/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=SaveOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Take a paper out of your library (and your collections; its note stays)",
)
def unsave(
    request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> SaveOut:
    return _set_saved(request, paper_id, session, settings, user, False)


def _set_mark(
    request: Request,
    mark: str,
    paper_id: str,
    session: Session,
    settings: SettingsDep,
    user: User,
    on: bool,
) -> MarkOut:
    if mark not in marks.MARKS:
        raise HTTPException(400, f"mark must be one of {', '.join(marks.MARKS)}.")
    paper = paper_or_404(session, paper_id)
    with write_transaction(session):
        _write(request, session, settings, user)
        marks.set_mark(session, user, paper.id, mark, on=on, now=_now())
    return MarkOut(paper=paper.arxiv_id, mark=mark, on=on)


@router.put(
    "/marks/{mark}/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=MarkOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Mark a paper read or dismissed (not interested)",
)
def put_mark(
    request: Request,
    mark: str,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> MarkOut:
    """``mark`` is ``read`` or ``dismissed``. Dismissed papers are left out of your digests."""
    return _set_mark(request, mark, paper_id, session, settings, user, True)


@router.delete(
    "/marks/{mark}/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=MarkOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Take a read or dismissed mark back",
)
def delete_mark(
    request: Request,
    mark: str,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> MarkOut:
    return _set_mark(request, mark, paper_id, session, settings, user, False)


# Notes --------------------------------------------------------------------------------------------


@router.get(
    "/notes/{paper_id:path}",
    response_model=NoteOut,
    responses=api(400, 401, 404),
    summary="Your private note on a paper",
)
def get_note(paper_id: str, session: ReadSessionDep, user: CurrentUser) -> NoteOut:
    paper = paper_or_404(session, paper_id)
    note = saves.note_of(session, user, paper.id)
    if note is None:
        raise HTTPException(404, f"You have no note on {paper.arxiv_id}.")
    return NoteOut(
        paper=paper.arxiv_id, body=note.body, html=note.body_html, updatedAt=note.updated_at
    )


@router.put(
    "/notes/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=NoteOut | None,
    responses=api(400, 401, 403, 404, 429),
    summary="Write your private note on a paper (an empty body deletes it)",
)
def put_note(
    request: Request,
    paper_id: str,
    body: NoteIn,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> NoteOut | None:
    """Markdown, sanitized as comments are; writing a note saves the paper."""
    paper = paper_or_404(session, paper_id)
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            note = saves.set_note(session, user, paper.id, body.body, _now())
        except LibraryError as exc:
            raise refused(exc) from None
        if note is None:
            return None
        return NoteOut(
            paper=paper.arxiv_id, body=note.body, html=note.body_html, updatedAt=note.updated_at
        )


@router.delete(
    "/notes/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    status_code=204,
    response_class=Response,
    responses=api(400, 401, 403, 404, 429),
    summary="Delete your note on a paper",
)
def delete_note(
    request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> Response:
    paper = paper_or_404(session, paper_id)
    with write_transaction(session):
        _write(request, session, settings, user)
        saves.set_note(session, user, paper.id, "", _now())
    return Response(status_code=204)


# Collections --------------------------------------------------------------------------------------


@router.get(
    "/collections",
    response_model=list[CollectionOut],
    responses=api(401),
    summary="Your collections, by name",
)
def list_collections(session: ReadSessionDep, user: CurrentUser) -> list[CollectionOut]:
    return [_collection_out(c, n) for c, n in collections.collections_of(session, user)]


def _counted(session: Session, user: User, collection_id: int) -> CollectionOut:
    for collection, count in collections.collections_of(session, user):
        if collection.id == collection_id:
            return _collection_out(collection, count)
    raise HTTPException(404, f"You have no collection with id {collection_id}.")


@router.post(
    "/collections",
    dependencies=[ApiCsrfChecked],
    status_code=201,
    response_model=CollectionOut,
    responses=api(400, 401, 403, 429),
    summary="Make a collection (private unless isPublic)",
)
def create_collection(
    request: Request,
    body: CollectionIn,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> CollectionOut:
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            made = collections.create_collection(
                session,
                user,
                body.name,
                description=body.description,
                is_public=body.isPublic,
                now=_now(),
            )
        except LibraryError as exc:
            raise refused(exc) from None
        return _collection_out(made, 0)


@router.patch(
    "/collections/{collection_id}",
    dependencies=[ApiCsrfChecked],
    response_model=CollectionOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Rename, describe, or make a collection public or private",
)
def update_collection(
    request: Request,
    collection_id: int,
    body: CollectionPatch,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> CollectionOut:
    row_id_or_404(collection_id, "collection")
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            collections.update_collection(
                session,
                user,
                collection_id,
                name=body.name,
                description=body.description,
                is_public=body.isPublic,
                now=_now(),
            )
        except LibraryError as exc:
            raise refused(exc) from None
    return _counted(session, user, collection_id)


@router.delete(
    "/collections/{collection_id}",
    dependencies=[ApiCsrfChecked],
    status_code=204,
    response_class=Response,
    responses=api(401, 403, 404, 429),
    summary="Delete a collection (its papers stay saved)",
)
def delete_collection(
    request: Request,
    collection_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> Response:
    row_id_or_404(collection_id, "collection")
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            collections.delete_collection(session, user, collection_id)
        except LibraryError as exc:
            raise refused(exc) from None
    return Response(status_code=204)


def _set_in_collection(
    request: Request,
    collection_id: int,
    paper_id: str,
    session: Session,
    settings: SettingsDep,
    user: User,
    on: bool,
) -> CollectionPaperOut:
    row_id_or_404(collection_id, "collection")
    paper = paper_or_404(session, paper_id)
    with write_transaction(session):
        _write(request, session, settings, user)
        try:
            if on:
                collections.add_to_collection(session, user, collection_id, [paper.id], _now())
            else:
                collections.remove_from_collection(session, user, collection_id, paper.id)
        except LibraryError as exc:
            raise refused(exc) from None
    return CollectionPaperOut(collection=collection_id, paper=paper.arxiv_id, inCollection=on)


@router.put(
    "/collections/{collection_id}/papers/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=CollectionPaperOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Put a paper in a collection (saving it)",
)
def add_paper(
    request: Request,
    collection_id: int,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> CollectionPaperOut:
    return _set_in_collection(request, collection_id, paper_id, session, settings, user, True)


@router.delete(
    "/collections/{collection_id}/papers/{paper_id:path}",
    dependencies=[ApiCsrfChecked],
    response_model=CollectionPaperOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Take a paper out of a collection (it stays saved)",
)
def remove_paper(
    request: Request,
    collection_id: int,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> CollectionPaperOut:
    return _set_in_collection(request, collection_id, paper_id, session, settings, user, False)
