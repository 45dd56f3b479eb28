"""What each route declares it can answer, so ``/openapi.json`` tells the truth.

Routes pass ``responses=page(...)`` or ``responses=api(...)`` with the error statuses they
raise themselves. FastAPI's own 422 never reaches a client (``app._validation_error`` answers
400), so :func:`document_validation_as_400` swaps it for the 400 that is really sent. Under
``/api/`` errors are ``{"error": ...}`` (``ErrorOut``); elsewhere they are the HTML error page.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import RedirectResponse

from dailypapers.schemas import ErrorOut

Responses = dict[int | str, dict[str, Any]]

HTML: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
ATOM: Responses = {200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}}}
MARKDOWN: dict[str, Any] = {"text/markdown": {"schema": {"type": "string"}}}
# A form's success, and a signed-out GET of a page that needs an account (to /signin).
REDIRECT: Responses = {303: {"description": "See Other: the page to show next"}}


def _phrase(code: int) -> str:
    return HTTPStatus(code).phrase


def page(*codes: int, redirect: bool = False) -> Responses:
    """HTML error pages with these statuses (and a 303 when ``redirect``)."""
    declared: Responses = dict(REDIRECT) if redirect else {}
    declared.update({code: {"description": _phrase(code), "content": HTML} for code in codes})
    return declared


def form(*codes: int) -> dict[str, Any]:
    """Route arguments of a form POST: 303 to the next page on success, else an error page
    with one of ``codes``."""
    return {"status_code": 303, "response_class": RedirectResponse, "responses": page(*codes)}


def api(*codes: int) -> Responses:
    """JSON errors, ``{"error": "..."}``, with these statuses."""
    return {code: {"description": _phrase(code), "model": ErrorOut} for code in codes}


def document_validation_as_400(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each operation's 422 with the 400 the validation handler sends instead."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is None or "400" in responses:
                continue
            if path.startswith("/api/"):
                error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
            else:
                error = HTML
            responses["400"] = {"description": _phrase(400), "content": error}
    schemas = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema
