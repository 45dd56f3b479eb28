"""Input the database cannot hold, refused before any handler sees it.

- A NUL character: PostgreSQL text cannot contain one (psycopg raises, which was a 500), so any
  NUL in the path, the query, a form field or a JSON string is a 400 on every backend.
- A body past MAX_BODY_BYTES (MAX_IMPORT_BODY_BYTES on the import routes): a 413, from
  :class:`BodyLimitMiddleware`.
- An id past the range of the id columns: ids are PostgreSQL ``integer`` (32-bit), which
  refuses to compare with a larger value (a 500), and SQLite cannot bind one past 64 bits (an
  OverflowError). No row has such an id, so a path id is a 404; a form field declares the
  bound (``RowIdField``), so the validation handler answers 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Form, HTTPException, Query, Request
from pydantic import Field
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The largest request body: forms and JSON here are a few KB (a 20,000-character comment is
# under 250 KB even URL-encoded); bigger bodies are refused before they fill memory.
MAX_BODY_BYTES = 2**20
# Library imports take a whole reference file (citations.MAX_IMPORT_BYTES) and its envelope.
IMPORT_PATHS = frozenset({"/library/import", "/api/me/imports"})
MAX_IMPORT_BODY_BYTES = 11 * 2**20
MAX_ROW_ID = 2**31 - 1  # the largest id of a PostgreSQL integer column, the narrower backend
NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

RowIdField = Annotated[int | None, Form(ge=1, le=MAX_ROW_ID)]


RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


def _collection_filter(
    collection: Annotated[RowId | Literal[""] | None, Query()] = None,
) -> int | None:
    """A form sent by GET (a <select> whose first option is "all") sends `collection=`: an
    empty value means no collection, not a 422 (FastAPI already reads an empty *form* field as
    missing)."""
    return collection or None


# The ``collection`` query parameter of the library's lists and exports: an id or none.
CollectionFilter = Annotated[int | None, Depends(_collection_filter)]


def _has_nul(value: object) -> bool:
    """Walks with a stack, not recursion: a JSON body may nest as deep as the parser allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def reject_nul(request: Request) -> None:
    """App-wide dependency: a 400 that names the part of the request holding a NUL."""
    where = None
    if NUL in request.url.path:
        where = "the path"
    elif any(_has_nul(key) or _has_nul(value) for key, value in request.query_params.multi_items()):
        where = "a query parameter"
    else:
        media_type = _media_type(request)
        if media_type in FORM_TYPES:
            form = await request.form()  # parsed once: FastAPI and the CSRF check reuse it
            if any(_has_nul(key) or _has_nul(value) for key, value in form.multi_items()):
                where = "a form field"
        elif _is_json(media_type) and _has_nul(await _json(request)):
            where = "the JSON body"
    if where is not None:
        raise HTTPException(400, f"{where[0].upper()}{where[1:]} holds a NUL character; remove it.")


def _media_type(request: Request) -> str:
    """``multipart/form-data`` of ``Multipart/Form-Data; boundary=x``: Starlette and FastAPI
    compare media types without case, so this check must too."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    """What FastAPI parses as JSON: ``application/json`` and every ``application/*+json``."""
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except (ValueError, RecursionError):
        # Malformed JSON is the body validation's to report; so is JSON nested past the
        # parser's recursion limit (a 100 KB ``[[[…`` raised RecursionError: a 500).
        return None


def row_id_or_404(value: int, what: str) -> int:
    """``value`` when a row could have it as id, else a 404 (no row has it)."""
    if not 1 <= value <= MAX_ROW_ID:
        raise HTTPException(404, f"No {what} has id {value}.")
    return value


class BodyLimitMiddleware:
    """Starlette's body limit, with a larger one on the import routes (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.default = RequestBodyLimitMiddleware(app, max_body_size=MAX_BODY_BYTES)
        self.imports = RequestBodyLimitMiddleware(app, max_body_size=MAX_IMPORT_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        larger = scope["type"] == "http" and scope["path"] in IMPORT_PATHS
        await (self.imports if larger else self.default)(scope, receive, send)


def body_limit_message(path: str) -> str:
    limit = MAX_IMPORT_BODY_BYTES if path in IMPORT_PATHS else MAX_BODY_BYTES
    return f"The request body is larger than {limit // 1024} KiB; send less."
