"""``create_app(settings)``: the one application object, built from one Settings object."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from dailypapers import __version__
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.signing import Signer, secret_key
from dailypapers.web import (
    access_log,
    accounts,
    alert_feeds,
    api,
    api_docs,
    authors,
    community,
    digests,
    feeds,
    follows,
    foryou,
    library,
    library_api,
    library_transfer,
    orgs,
    papers,
    search,
    webhooks,
    webhooks_api,
)
from dailypapers.web.deps import ReadYourWritesMiddleware
from dailypapers.web.headers import SecurityHeadersMiddleware, add_security_headers
from dailypapers.web.inputs import BodyLimitMiddleware, body_limit_message, reject_nul
from dailypapers.web.openapi import document_validation_as_400
from dailypapers.web.security import SESSION_COOKIE, same_origin
from dailypapers.web.templating import configure_templates

WEB_DIR = Path(__file__).parent


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings)
    # Feed, search and API reads go to the replica when one is configured (deps.py).
    read_engine = (
        make_engine(settings, settings.read_database_url) if settings.read_database_url else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Move the long-lived objects of imports and app setup out of the collector's view, so
        # full collections stop walking them in the middle of a request (docs/benchmarks.md).
        gc.freeze()
        yield
        engine.dispose()
        if read_engine is not None:
            read_engine.dispose()

    app = FastAPI(
        title=settings.site_name,
        version=__version__,
        description="Daily Papers: a feed of research papers ranked by upvotes.",
        lifespan=lifespan,
        docs_url=None,  # served by api_docs from local files
        redoc_url=None,
        # NUL in any input is a 400 (web/inputs.py); unsafe cross-origin requests a 403
        dependencies=[Depends(reject_nul), Depends(same_origin)],
    )
    generate_openapi = app.openapi
    app.openapi = lambda: document_validation_as_400(generate_openapi())  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.read_session_factory = (
        make_session_factory(read_engine) if read_engine is not None else None
    )
    app.state.signer = Signer(settings)
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    configure_templates(templates, settings)
    app.state.templates = templates

    app.mount(
        api_docs.SWAGGER_UI_URL, StaticFiles(directory=api_docs.SWAGGER_UI_DIR), name="swagger-ui"
    )
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.include_router(api_docs.router)
    app.include_router(search.api_router)  # before api: its /papers/{id:path} takes any path
    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(alert_feeds.router)
    app.include_router(accounts.router)
    app.include_router(community.router)
    app.include_router(authors.router)
    app.include_router(orgs.router)
    app.include_router(digests.router)
    app.include_router(library.router)
    app.include_router(follows.router)
    app.include_router(library_api.router)
    app.include_router(foryou.router)
    app.include_router(foryou.api_router)
    app.include_router(library_transfer.router)
    app.include_router(library_transfer.api_router)
    app.include_router(webhooks.router)
    app.include_router(webhooks_api.router)
    app.include_router(search.router)
    app.include_router(papers.router)  # last: /papers/{id} takes any path below /papers/

    # Innermost, so its 413 gets the security headers: a body is refused past MAX_BODY_BYTES
    # (by Content-Length before a byte is read, else as it streams in).
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_days * 86400,
        same_site="lax",
        https_only=settings.base_url.startswith("https://"),
    )
    if read_engine is not None:
        app.add_middleware(ReadYourWritesMiddleware, seconds=settings.read_your_writes_seconds)
    if settings.trusted_proxies:
        # Per-IP rate limits need the client's address, which a proxy passes in X-Forwarded-For.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(SecurityHeadersMiddleware, https=settings.base_url.startswith("https://"))
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)
    return app


def server_config(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """uvicorn's settings for the site. ``proxy_headers`` is off: uvicorn would otherwise
    believe any ``X-Forwarded-For`` sent over loopback, so anyone could pick the address the
    per-IP limits count; the app's own ProxyHeadersMiddleware believes TRUSTED_PROXIES only.
    The access log leaves out the tokens of confirmation, reset and unsubscribe links."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False
    )
    access_log.install()  # after Config, which sets up uvicorn's loggers
    return config


def run_server(app: FastAPI, *, host: str, port: int) -> None:
    uvicorn.Server(server_config(app, host=host, port=port)).run()


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_response(
    request: Request, status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = (
        JSONResponse({"error": message}, status_code=status_code)
        if _wants_json(request)
        else papers.render_error(request, status_code, message)
    )
    response.headers.update(headers or {})  # Retry-After of a 429, WWW-Authenticate of a 401
    return response


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 413:
        message = body_limit_message(request.url.path)
    if exc.status_code == 401 and not _wants_json(request) and request.method == "GET":
        return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
    if exc.status_code == 404 and message == "Not Found":
        message = f"Nothing lives at {request.url.path}."
    return _error_response(request, exc.status_code, message, exc.headers)


async def _server_error(request: Request, _exc: Exception) -> Response:
    """The 500 page or ``{"error"}``, with the security headers (this answer is sent from
    outside the middleware that adds them); the traceback goes to the server's log only."""
    message = "Something went wrong on our side; the error is logged. Try again later."
    try:
        response = _error_response(request, 500, message)
    except Exception:  # the error page itself failed (templates, settings)
        response = PlainTextResponse(message, status_code=500)
    settings: Settings = request.app.state.settings
    add_security_headers(
        response.headers, request.url.path, https=settings.base_url.startswith("https://")
    )
    return response


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return _error_response(request, 400, "; ".join(problems) or "invalid request")
