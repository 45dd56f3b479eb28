"""The library from pages and forms: save, mark, note, collections, the library page, and the
PDF link that remembers the paper was opened. Every form works without JavaScript: it posts
here and is sent back (303) to the page it came from. Collections' public pages and feeds are
here too; the JSON API is ``web/library_api.py``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from dailypapers import arxiv_ids
from dailypapers.config import Settings
from dailypapers.library import LibraryError, NotFoundError, collections, marks, saves
from dailypapers.library.listing import SORTS, LibraryPage, LibraryQuery, Sort, library_page
from dailypapers.models import Collection, Paper, User
from dailypapers.search.lexical.snippets import opening
from dailypapers.web.cards import record_opened, viewer_context
from dailypapers.web.deps import (
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    TemplatesDep,
    paper_or_404,
    writes,
)
from dailypapers.web.feeds import ATOM_TYPE, FeedItem, build_atom, build_json_feed
from dailypapers.web.inputs import MAX_ROW_ID, CollectionFilter, row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import ATOM, REDIRECT, form, page
from dailypapers.web.redirects import back
from dailypapers.web.security import (
    ActiveUser,
    CsrfChecked,
    CurrentUser,
    OptionalUser,
    session_user,
    signed_in,
)

router = APIRouter(tags=["library"])
PAGE_SIZE = 50
FEED_SIZE = 50
FormText = Annotated[str, Form(max_length=30_000)]
FormName = Annotated[str, Form(max_length=300)]
JSON_FEED_TYPE = "application/feed+json"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refused(exc: LibraryError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, NotFoundError) else 400, str(exc))


def _back_to_card(request: Request, paper: Paper) -> str:
    """Back to the page the form was on, at the paper's card (a long list would otherwise
    reload at its top after every click), or at the library box of the paper's own page."""
    own_page = f"/papers/{paper.arxiv_id}"
    target = back(request, own_page)
    anchor = "library" if target == own_page else f"paper-{paper.arxiv_id}"
    return f"{target}#{anchor}"


# Save, mark, note (forms on every card and on the paper page) ---------------------------------


def _keep_or_mark(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    paper: Paper,
    mark: marks.Mark | None,
    *,
    on: bool,
) -> Response:
    """Save or unsave (``mark`` None), or set or take back a mark, then back to the card: what
    the card's form and the older save / mark forms share."""
    limit_or_429(request, session, settings, user, "library")
    try:
        if mark is not None:
            marks.set_mark(session, user, paper.id, mark, on=on, now=_now())
        elif on:
            saves.save(session, user, paper.id, _now())
        else:
            saves.unsave(session, user, paper.id)
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse(_back_to_card(request, paper), status_code=303)


@router.post(
    "/papers/{paper_id:path}/save",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Save a paper to your library, or take it out (form)",
)
@writes
def save_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    action: Annotated[str, Form(max_length=10)] = "save",
) -> Response:
    paper = paper_or_404(session, paper_id)
    return _keep_or_mark(request, session, settings, user, paper, None, on=action != "unsave")


@router.post(
    "/papers/{paper_id:path}/mark",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Mark a paper read or not interested, or take the mark back (form)",
)
@writes
def mark_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    mark: Annotated[str, Form(max_length=20)] = "read",
    on: Annotated[str, Form(max_length=5)] = "1",
) -> Response:
    paper = paper_or_404(session, paper_id)
    if mark not in marks.MARKS:
        raise HTTPException(400, f"mark must be one of {', '.join(marks.MARKS)}.")
    return _keep_or_mark(request, session, settings, user, paper, mark, on=on != "0")


# A card's one form: the pressed button's ``do`` names the action (fewer forms to render).
CARD_ACTIONS: dict[str, tuple[marks.Mark | None, bool]] = {
    "save": (None, True),  # None: the save itself, not a mark
    "unsave": (None, False),
    "read": ("read", True),
    "unread": ("read", False),
    "dismiss": ("dismissed", True),
    "undismiss": ("dismissed", False),
}


@router.post(
    "/papers/{paper_id:path}/library",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Save, unsave, mark read or unread, dismiss or undismiss a paper (a card's form)",
)
@writes
def card_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    do: Annotated[str, Form(max_length=12)],
) -> Response:
    paper = paper_or_404(session, paper_id)
    if do not in CARD_ACTIONS:
        raise HTTPException(400, f"do must be one of {', '.join(CARD_ACTIONS)}.")
    what, on = CARD_ACTIONS[do]
    return _keep_or_mark(request, session, settings, user, paper, what, on=on)


@router.post(
    "/papers/{paper_id:path}/note",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Write your private note on a paper (empty: delete it)",
)
@writes
def note_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    body: FormText = "",
) -> Response:
    paper = paper_or_404(session, paper_id)
    limit_or_429(request, session, settings, user, "library")
    try:
        saves.set_note(session, user, paper.id, body, _now())
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse(f"/papers/{paper.arxiv_id}#note", status_code=303)


@router.post(
    "/papers/{paper_id:path}/collections",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Put a paper in one of your collections (or a new one), or take it out (form)",
)
@writes
def paper_collections_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    collection_id: Annotated[int | None, Form(ge=1, le=MAX_ROW_ID)] = None,
    new_name: FormName = "",
    action: Annotated[str, Form(max_length=10)] = "add",
) -> Response:
    paper = paper_or_404(session, paper_id)
    limit_or_429(request, session, settings, user, "library")
    now = _now()
    try:
        if new_name.strip():
            target = collections.collection_named(session, user, new_name)
            if target is None:
                target = collections.create_collection(session, user, new_name, now=now)
            collection_id = target.id
        if collection_id is None:
            raise LibraryError("Choose a collection, or name a new one.")
        if action == "remove":
            collections.remove_from_collection(session, user, collection_id, paper.id)
        else:
            collections.add_to_collection(session, user, collection_id, [paper.id], now)
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse(_back_to_card(request, paper), status_code=303)


@router.get(
    "/papers/{paper_id:path}/pdf",
    status_code=303,
    response_class=RedirectResponse,
    responses=page(400, 404),
    summary="The paper's PDF on arXiv (remembered as opened when signed in)",
)
def pdf_link(request: Request, paper_id: str, session: ReadSessionDep) -> Response:
    paper = paper_or_404(session, paper_id)
    user = session_user(request, session)
    # Only a click on this site counts: another site's page cannot mark papers as opened.
    if request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none"):
        opened = user is not None and marks.was_opened(session, user, paper.id)
        record_opened(request, user, paper.id, opened)
    return RedirectResponse(arxiv_ids.pdf_url(paper.arxiv_id), status_code=303)


# The library page ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibraryCard:
    """What ``result_card`` shows of a library paper (no search hit, no marked snippet)."""

    paper: Paper
    title_html: Markup
    abstract_html: Markup
    saved_at: dt.datetime | None = None
    collection_names: tuple[str, ...] = ()
    hit: None = None


def library_cards(
    result: LibraryPage, names: dict[int, list[str]] | None = None, *, show_saved: bool = True
) -> list[LibraryCard]:
    return [
        LibraryCard(
            paper=item.paper,
            title_html=escape(item.paper.title),
            abstract_html=escape(opening(item.paper.abstract or "")),
            saved_at=item.saved_at if show_saved else None,
            collection_names=tuple((names or {}).get(item.paper.id, ())),
        )
        for item in result.items
    ]


def _library_context(
    session: Session, user: User, result: LibraryPage, query: LibraryQuery
) -> dict[str, Any]:
    ids = [item.paper.id for item in result.items]
    shelves = collections.collections_of(session, user)
    name_of = {collection.id: collection.name for collection, _ in shelves}
    names = {
        paper_id: sorted(name_of[c] for c in held if c in name_of)
        for paper_id, held in collections.memberships(session, user, ids).items()
    }
    current = next((c for c, _ in shelves if c.id == query.collection_id), None)
    kept = {"q": query.q, "sort": query.sort, "collection": query.collection_id}
    page_query = urlencode({k: v for k, v in kept.items() if v})  # `collection=` is a 422
    return {
        **viewer_context(session, user, ids),
        "user": user,
        "result": result,
        "cards": library_cards(result, names),
        "query": query,
        "sorts": SORTS,
        "collections": shelves,
        "current": current,
        "page_query": page_query,
    }


@router.get(
    "/library",
    response_class=HTMLResponse,
    responses={**REDIRECT, **page(400, 404)},
    summary="Your library: saved papers, collections, search within them",
)
def library(
    request: Request,
    session: ReadSessionDep,
    templates: TemplatesDep,
    viewer: OptionalUser,
    collection: CollectionFilter,
    q: Annotated[str, Query(max_length=500)] = "",
    sort: Annotated[Sort, Query()] = "saved",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    user = signed_in(viewer)
    if collection is not None:
        try:
            collections.own_collection(session, user, collection)
        except NotFoundError as exc:
            raise refused(exc) from None
    query = LibraryQuery(sort=sort, collection_id=collection, q=q)
    error = None
    try:
        result = library_page(session, user, query, page=page - 1, page_size=PAGE_SIZE)
    except LibraryError as exc:
        error = str(exc)
        result = LibraryPage([], 0, 0, PAGE_SIZE, "saved")
    context = _library_context(session, user, result, query) | {"error": error}
    return templates.TemplateResponse(
        request, "library.html", context, status_code=400 if error else 200
    )


@router.post(
    "/library/settings",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Reading settings: collapse seen or dismissed papers in lists",
)
@writes
def reading_settings(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    collapse_seen: Annotated[str, Form(max_length=5)] = "",
    collapse_dismissed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    limit_or_429(request, session, settings, user, "library")
    user.collapse_seen = bool(collapse_seen)
    user.collapse_dismissed = bool(collapse_dismissed)
    return RedirectResponse("/library", status_code=303)


# Collections -----------------------------------------------------------------------------------


@router.post(
    "/collections",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Make a collection",
)
@writes
def create_collection_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    name: FormName = "",
    description: FormText = "",
    public: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    limit_or_429(request, session, settings, user, "library")
    try:
        made = collections.create_collection(
            session, user, name, description=description, is_public=bool(public), now=_now()
        )
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse(f"/collections/{made.id}", status_code=303)


@router.post(
    "/collections/{collection_id}/edit",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Rename a collection, describe it, make it public or private",
)
@writes
def edit_collection_form(
    request: Request,
    collection_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    name: FormName = "",
    description: FormText = "",
    public: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    row_id_or_404(collection_id, "collection")
    limit_or_429(request, session, settings, user, "library")
    try:
        collections.update_collection(
            session,
            user,
            collection_id,
            name=name,
            description=description,
            is_public=bool(public),
            now=_now(),
        )
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.post(
    "/collections/{collection_id}/delete",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Delete a collection (its papers stay saved)",
)
@writes
def delete_collection_form(
    request: Request,
    collection_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> Response:
    row_id_or_404(collection_id, "collection")
    limit_or_429(request, session, settings, user, "library")
    try:
        collections.delete_collection(session, user, collection_id)
    except LibraryError as exc:
        raise refused(exc) from None
    return RedirectResponse("/library", status_code=303)


def _readable(
    session: Session, request: Request, collection_id: int
) -> tuple[Collection, User | None]:
    row_id_or_404(collection_id, "collection")
    viewer = session_user(request, session)
    try:
        return collections.readable_collection(session, viewer, collection_id), viewer
    except NotFoundError as exc:
        raise refused(exc) from None


@router.get(
    "/collections/{collection_id}",
    response_class=HTMLResponse,
    responses=page(400, 404),
    summary="A collection: its owner's, or anyone's when public",
)
def collection_page(
    request: Request,
    collection_id: int,
    session: ReadSessionDep,
    templates: TemplatesDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    collection, viewer = _readable(session, request, collection_id)
    owner = collection.user
    query = LibraryQuery(collection_id=collection.id)
    result = library_page(session, owner, query, page=page - 1, page_size=PAGE_SIZE)
    ids = [item.paper.id for item in result.items]
    context = {
        **viewer_context(session, viewer, ids),
        "cards": library_cards(result, show_saved=viewer is not None and viewer.id == owner.id),
        "collection": collection,
        "owner": owner,
        "is_owner": viewer is not None and viewer.id == owner.id,
        "result": result,
        "feed_url": f"/collections/{collection.id}/feed.atom" if collection.is_public else None,
    }
    return templates.TemplateResponse(request, "collection.html", context)


def _collection_feed(session: Session, collection_id: int, extension: str) -> dict[str, Any]:
    """What both feed builders take for a public collection: paths, title and items."""
    row_id_or_404(collection_id, "collection")
    try:
        collection = collections.readable_collection(session, None, collection_id)
    except NotFoundError as exc:  # feeds are read without a cookie: public collections only
        raise refused(exc) from None
    result = library_page(
        session,
        collection.user,
        LibraryQuery(collection_id=collection.id),
        page=0,
        page_size=FEED_SIZE,
    )
    return {
        "feed_path": f"/collections/{collection.id}/feed.{extension}",
        "page_path": f"/collections/{collection.id}",
        "title": f"{collection.name} (a collection of {collection.user.username})",
        "items": [FeedItem(item.paper, item.saved_at) for item in result.items],
    }


@router.get(
    "/collections/{collection_id}/feed.atom",
    response_class=Response,
    responses={**ATOM, **page(404)},
    summary="Atom feed of a public collection",
)
def collection_atom(collection_id: int, session: ReadSessionDep, settings: SettingsDep) -> Response:
    body = build_atom(settings, **_collection_feed(session, collection_id, "atom"))
    return Response(body, media_type=ATOM_TYPE)


@router.get(
    "/collections/{collection_id}/feed.json",
    response_class=JSONResponse,
    responses={
        200: {"content": {JSON_FEED_TYPE: {"schema": {"type": "object"}}}},
        **page(404),
    },
    summary="JSON Feed of a public collection",
)
def collection_json_feed(
    collection_id: int, session: ReadSessionDep, settings: SettingsDep
) -> JSONResponse:
    body = build_json_feed(settings, **_collection_feed(session, collection_id, "json"))
    return JSONResponse(body, media_type=JSON_FEED_TYPE)
