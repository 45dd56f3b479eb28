"""Request dependencies: settings, a per-request transaction, templates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import session_scope


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request owns the transaction: committed when the handler returns, else rolled back.
    A POST (or PUT, PATCH, DELETE) starts as a writer, so concurrent writes queue up."""
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    with session_scope(request.app.state.session_factory, write=write) as session:
        yield session


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
