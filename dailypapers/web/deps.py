"""Request dependencies: settings, a per-request transaction, templates.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the
thread pool, and each such hop cost more than the work itself (measured on the vote path)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.config import Settings
from dailypapers.db import session_scope, write_transaction
from dailypapers.models import Paper
from dailypapers.papers import get_paper

P = ParamSpec("P")
R = TypeVar("R")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request owns the transaction: committed when the handler returns, else rolled back.
    Handlers that write call ``db.begin_write`` first (see there why not here)."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


# Set on the response to a successful write; while present, that client reads the primary.
PRIMARY_COOKIE = "dp_read_primary"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_read_session(request: Request) -> Iterator[Session]:
    """A session for pages and API reads: on the read replica when READ_DATABASE_URL is set,
    except for a client that wrote in the last READ_YOUR_WRITES_SECONDS (it would not see its
    own vote or comment until the replica replays it), which reads the primary."""
    factory = request.app.state.read_session_factory
    if factory is None or PRIMARY_COOKIE in request.cookies:
        factory = request.app.state.session_factory
    with session_scope(factory) as session:
        yield session


class ReadYourWritesMiddleware:
    """Marks a client that has just written (a 2xx/3xx answer to POST, PUT, PATCH or DELETE)
    with a short-lived cookie, so its next reads go to the primary (pure ASGI: no body
    buffering)."""

    def __init__(self, app: ASGIApp, *, seconds: int) -> None:
        self.app = app
        self.cookie = (
            f"{PRIMARY_COOKIE}=1; Max-Age={seconds}; Path=/; HttpOnly; SameSite=Lax"
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                message["headers"] = [*message.get("headers", []), (b"set-cookie", self.cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def writes(handler: Callable[P, R]) -> Callable[P, R]:
    """Decorator of handlers that write: the write transaction starts and commits inside the
    handler's own thread call. Committing later, in the session dependency's teardown, would
    hold SQLite's write lock until the event loop gets round to it, and concurrent voters then
    time out on the lock (docs/benchmarks.md)."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        with write_transaction(session):
            return handler(*args, **kwargs)

    return wrapper


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]


def arxiv_id_or_400(text: str) -> str:
    """The canonical id in a path or form, or a 400 that says what was expected."""
    try:
        return parse_arxiv_id(text).id
    except ArxivIdError as exc:
        raise HTTPException(400, str(exc)) from None


def paper_or_404(session: Session, text: str) -> Paper:
    """The visible paper a path names (400 for a malformed id, 404 when not in the store)."""
    arxiv_id = arxiv_id_or_400(text)
    paper = get_paper(session, arxiv_id)
    if paper is None:
        raise HTTPException(404, f"Paper {arxiv_id} is not in this site's store.")
    return paper
