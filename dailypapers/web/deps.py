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


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def writes(handler: Callable[P, R]) -> Callable[P, R]:
    """Decorator of handlers that write: the write transaction starts and commits inside the
    handler's own thread call. Committing later, in the session dependency's teardown, would
    hold SQLite's write lock until the event loop gets round to it (measured: 50 concurrent
    voters then time out on the lock)."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        with write_transaction(session):
            return handler(*args, **kwargs)

    return wrapper


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
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
