"""Factories and sign-in for community tests: real accounts in the test's SQLite file."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dailypapers import accounts
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.models import User
from tests.conftest import csrf_token

PASSWORD = "correct horse battery"


def make_user(settings: Settings, username: str, *, role: str = "user", **fields: object) -> int:
    """Factory: a verified account with PASSWORD; returns its id."""
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        user = accounts.create_user(
            session,
            settings,
            username=username,
            email=f"{username}@example.org",
            password=PASSWORD,
            role=role,
            now=dt.datetime.now(dt.UTC),
        )
        for name, value in fields.items():
            setattr(user, name, value)
        user_id = user.id
    engine.dispose()
    return user_id


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/signin",
        data={"login": login, "password": password, "csrf_token": csrf_token(client, "/signin")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def form(client: TestClient, path: str, data: dict[str, object] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    """POST a form the way a browser does: with this session's CSRF token."""
    payload = {**(data or {}), "csrf_token": csrf_token(client, "/signin")}
    return client.post(path, data=payload, **kw)  # type: ignore[arg-type]


def api_token(settings: Settings, user_id: int) -> str:
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        user = session.get(User, user_id)
        assert user is not None
        secret = accounts.create_api_token(session, user, "test", dt.datetime.now(dt.UTC)).secret
    engine.dispose()
    return secret


def db_session(settings: Settings) -> Session:
    """A session on the test's database (close it; the engine goes with the process)."""
    return make_session_factory(make_engine(settings))()
