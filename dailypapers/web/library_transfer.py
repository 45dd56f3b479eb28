"""Getting a reference list in and out of the library, from pages and from ``/api/me/``:
BibTeX, CSL JSON (Zotero), RIS and arXiv id lists in (``library/imports.py``), the same and a
JSON of everything out (``library/exports.py``). A file of at most 500 entries is matched in
the request; a bigger one by a job, whose page shows its progress and reloads itself."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from dailypapers.citations import MAX_IMPORT_BYTES
from dailypapers.db import write_transaction
from dailypapers.library import LibraryError, NotFoundError, collections, exports, imports
from dailypapers.models import LibraryImport, User
from dailypapers.schemas import ImportIn, ImportOut, ImportOutcomeOut
from dailypapers.web.deps import ReadSessionDep, SessionDep, SettingsDep, TemplatesDep
from dailypapers.web.inputs import CollectionFilter, row_id_or_404
from dailypapers.web.library import refused
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import REDIRECT, Responses, api, page
from dailypapers.web.security import (
    ActiveUser,
    ApiCsrfChecked,
    CsrfChecked,
    CurrentUser,
    OptionalUser,
    signed_in,
    touch_token,
)

router = APIRouter(tags=["library"])
api_router = APIRouter(tags=["library"])
ExportFormat = Annotated[str, Query(pattern="^(bibtex|csl_json|ris|json)$")]
EXPORT_CONTENT: Responses = {
    200: {
        "content": {
            "application/x-bibtex": {"schema": {"type": "string"}},
            "application/vnd.citationstyles.csl+json": {"schema": {"type": "array"}},
            "application/x-research-info-systems": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        }
    }
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _import_out(row: LibraryImport, *, with_outcomes: bool = True) -> ImportOut:
    return ImportOut(
        id=row.id,
        state=row.state,
        format=row.format,
        filename=row.filename,
        total=row.total,
        processed=row.processed,
        counts=imports.outcome_counts(row),
        outcomes=[
            ImportOutcomeOut(
                index=o["index"],
                line=o.get("line"),
                outcome=o["outcome"],
                arxivId=o.get("arxiv_id"),
                title=o.get("title"),
                reason=o.get("reason"),
            )
            for o in (row.outcomes if with_outcomes else [])
        ],
        createdAt=row.created_at,
        finishedAt=row.finished_at,
    )


# Import and export --------------------------------------------------------------------------------


@api_router.post(
    "/api/me/imports",
    dependencies=[ApiCsrfChecked],
    status_code=201,
    response_model=ImportOut,
    responses=api(400, 401, 403, 413, 429),
    summary="Import BibTeX, CSL JSON, RIS or a list of arXiv ids into your library",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ImportIn"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "collection": {"type": "string", "maxLength": 300},
                        },
                        "required": ["file"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def create_import(
    request: Request, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> ImportOut:
    """A file of at most 500 entries is matched at once; a bigger one by a job (poll
    ``GET /api/me/imports/{id}``). Every entry gets an outcome with its line or index."""
    data, filename, collection = await _import_body(request)
    row = await _start_import(request, session, settings, user, data, filename, collection)
    return _import_out(row)


async def _read_form(request: Request) -> tuple[bytes, str | None, str | None]:
    """The uploaded ``file`` (else the pasted ``text``) and the ``collection`` of a multipart
    import, its spooled files closed after."""
    form = await request.form(max_part_size=MAX_IMPORT_BYTES + 1)
    try:
        upload, pasted, collection = form.get("file"), form.get("text"), form.get("collection")
        data, filename = b"", None
        if isinstance(upload, StarletteUpload) and upload.filename:
            data, filename = await upload.read(MAX_IMPORT_BYTES + 1), upload.filename
        elif isinstance(pasted, str):
            data = pasted.encode()
    finally:
        await form.close()
    name = collection.strip() if isinstance(collection, str) and collection.strip() else None
    return data, filename, name


async def _import_body(request: Request) -> tuple[bytes, str | None, str | None]:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        data, filename, collection = await _read_form(request)
        if filename is None and not data:
            raise HTTPException(400, "Send the file in a multipart field named file.")
        return data, filename, collection
    try:
        body = ImportIn.model_validate_json(await request.body())
    except ValidationError as exc:
        # A JSON object with a bad field says which (as any request body does); anything else
        # is not the expected shape at all.
        fields = [e for e in exc.errors() if e["type"] not in ("json_invalid", "model_type")]
        if fields:
            located = [{**e, "loc": ("body", *e["loc"])} for e in fields]
            raise RequestValidationError(located) from None
        raise HTTPException(
            400, 'Send {"text": "...", "filename": "refs.bib"} as JSON, or a multipart file.'
        ) from None
    return body.text.encode(), body.filename, body.collection


async def _start_import(
    request: Request,
    session: Session,
    settings: SettingsDep,
    user: User,
    data: bytes,
    filename: str | None,
    collection: str | None,
) -> LibraryImport:
    def work() -> LibraryImport:
        with write_transaction(session):
            touch_token(request, session)
            limit_or_429(request, session, settings, user, "import")
            try:
                row = imports.start_import(
                    session, settings, user, data, filename, collection_name=collection, now=_now()
                )
            except LibraryError as exc:
                raise refused(exc) from None
            return row

    return await run_in_threadpool(work)


@api_router.get(
    "/api/me/imports",
    response_model=list[ImportOut],
    responses=api(401),
    summary="Your recent imports, newest first (counts; each one's outcomes at its own URL)",
)
def list_imports(session: ReadSessionDep, user: CurrentUser) -> list[ImportOut]:
    """A summary: ``outcomes`` is empty here (20 imports of 20,000 entries would be tens of
    megabytes); ``GET /api/me/imports/{id}`` has them."""
    return [
        _import_out(row, with_outcomes=False) for row in imports.recent_imports(session, user, 20)
    ]


@api_router.get(
    "/api/me/imports/{import_id}",
    response_model=ImportOut,
    responses=api(401, 404),
    summary="One import: its progress and each entry's outcome",
)
def get_import(import_id: int, session: SessionDep, user: CurrentUser) -> ImportOut:
    row_id_or_404(import_id, "import")
    try:
        return _import_out(imports.import_status(session, user, import_id))
    except NotFoundError as exc:
        raise refused(exc) from None


@api_router.get(
    "/api/me/export",
    response_class=Response,
    responses={**EXPORT_CONTENT, **api(400, 401, 404)},
    summary="Your library (or one collection) as BibTeX, CSL JSON, RIS or JSON with notes",
)
def export(
    session: ReadSessionDep,
    user: CurrentUser,
    collection: CollectionFilter,
    format: ExportFormat = "bibtex",
) -> Response:
    return _export_response(session, user, format, collection)


def _export_response(session: Session, user: User, fmt: str, collection: int | None) -> Response:
    try:
        filename, media_type, body = exports.export_library(session, user, fmt, collection)
    except LibraryError as exc:
        raise refused(exc) from None
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Pages -----------------------------------------------------------------------------------------


@router.get(
    "/library/import",
    response_class=HTMLResponse,
    responses=REDIRECT,
    summary="Import a reference list into your library (form)",
)
def import_page(
    request: Request, session: ReadSessionDep, templates: TemplatesDep, user: CurrentUser
) -> HTMLResponse:
    context = {
        "imports": imports.recent_imports(session, user, 10),
        "collections": collections.collections_of(session, user),
        "error": None,
        "max_mib": MAX_IMPORT_BYTES // 2**20,
    }
    return templates.TemplateResponse(request, "library_import.html", context)


@router.post(
    "/library/import",
    dependencies=[CsrfChecked],
    status_code=303,
    response_class=RedirectResponse,
    responses=page(400, 401, 403, 413, 429),
    summary="Import a reference list (form: a file or pasted text)",
)
async def import_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
) -> Response:
    data, filename, name = await _read_form(request)
    try:
        row = await _start_import(request, session, settings, user, data, filename, name)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        context = {
            "imports": imports.recent_imports(session, user, 10),
            "collections": collections.collections_of(session, user),
            "error": exc.detail,
            "max_mib": MAX_IMPORT_BYTES // 2**20,
        }
        return templates.TemplateResponse(request, "library_import.html", context, status_code=400)
    return RedirectResponse(f"/library/imports/{row.id}", status_code=303)


@router.get(
    "/library/imports/{import_id}",
    response_class=HTMLResponse,
    responses={**REDIRECT, **page(404)},
    summary="One import: progress and what became of each entry",
)
def import_result_page(
    request: Request,
    import_id: int,
    session: SessionDep,
    templates: TemplatesDep,
    viewer: OptionalUser,
) -> HTMLResponse:
    user = signed_in(viewer)
    row_id_or_404(import_id, "import")
    try:
        row = imports.import_status(session, user, import_id)
    except NotFoundError as exc:
        raise refused(exc) from None
    # A large import's table (megabytes) is left out while the page reloads itself.
    context = {
        "row": row,
        "counts": imports.outcome_counts(row),
        "inline_limit": imports.INLINE_LIMIT,
    }
    return templates.TemplateResponse(request, "library_import_result.html", context)


@router.get(
    "/library/export",
    response_class=Response,
    responses={**EXPORT_CONTENT, **REDIRECT, **page(400, 404)},
    summary="Download your library (or one collection)",
)
def export_page(
    session: ReadSessionDep,
    viewer: OptionalUser,
    collection: CollectionFilter,
    format: ExportFormat = "bibtex",
) -> Response:
    return _export_response(session, signed_in(viewer), format, collection)
