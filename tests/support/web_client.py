"""What a browser does with a form, for an in-process ``TestClient``: CSRF token, sign-in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/subscribe") -> str:
    """The CSRF token of the client's session, read from a form page as a browser would."""
    match = _CSRF.search(client.get(path).text)
    assert match, f"no form token on {path}"
    return match[1]


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
