"""``/docs``: the interactive API reference, Swagger UI served from this site.

FastAPI's default page loads Swagger UI from a CDN, unpinned; here its files come from the
``swagger-ui-bundle-v2`` package (mounted at ``/static/swagger-ui``) and the page has no inline
script, so the site's Content-Security-Policy holds on it too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from dailypapers.web.deps import TemplatesDep

SWAGGER_UI_DIR = Path(str(swagger_ui_path))
SWAGGER_UI_URL = "/static/swagger-ui"
router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request, templates: TemplatesDep) -> HTMLResponse:
    context = {"openapi_url": request.app.openapi_url, "swagger_ui_url": SWAGGER_UI_URL}
    return templates.TemplateResponse(request, "api_docs.html", context)
