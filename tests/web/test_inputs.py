"""Input the database cannot hold (web/inputs.py): NUL characters and ids past the id columns are
answered 400/404 on both backends, never a 500 (issue 15, defects 9 and 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from dailypapers.web.app import create_app
from tests.factories import make_user
from tests.support.web_client import csrf_token, form, sign_in

pytestmark = pytest.mark.both_backends

HUGE = "99999999999999999999"  # past 2**63: SQLite cannot bind it
PAST_INTEGER = str(2**31)  # PostgreSQL's integer id columns cannot hold it


@pytest.fixture
def moderator(demo_settings: Settings) -> Iterator[TestClient]:
    make_user(demo_settings, "mod", role="admin")
    with TestClient(create_app(demo_settings), raise_server_exceptions=False) as client:
        sign_in(client, "mod")
        yield client


@pytest.mark.parametrize(
    "path", ["/users/a%00b", "/orgs/a%00b", "/search?q=a%00b", "/papers/2602.08222?x=%00"]
)
def test_a_nul_in_a_page_path_or_query_is_a_400_page(moderator: TestClient, path: str) -> None:
    response = moderator.get(path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "NUL character" in response.text


def test_a_nul_in_the_api_is_a_json_400(moderator: TestClient) -> None:
    response = moderator.get("/api/daily_papers", params={"submitter": "a\x00b"})
    assert response.status_code == 400
    assert response.json() == {"error": "A query parameter holds a NUL character; remove it."}
    submitted = moderator.post(
        "/api/papers/submit",
        json={"paper_id": "2602.08222", "comment": "a\x00b"},
        headers={"X-CSRF-Token": csrf_token(moderator, "/signin")},
    )
    assert submitted.status_code == 400
    assert "JSON body" in submitted.json()["error"]


@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.api+json", "application/merge-patch+json", "Application/JSON"],
)
def test_a_nul_in_json_of_any_json_media_type_is_a_400(
    moderator: TestClient, media_type: str
) -> None:
    """Second review: FastAPI reads every ``application/*+json`` body as JSON (and the media
    type in any case); the NUL check looked at ``application/json`` only."""
    body = json.dumps({"paper_id": "2602.08222", "organization": "a\x00b", "comment": "a\x00b"})
    headers = {"X-CSRF-Token": csrf_token(moderator, "/signin"), "Content-Type": media_type}
    response = moderator.post("/api/papers/submit", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "JSON body" in response.json()["error"]


def test_a_nul_in_a_form_whose_media_type_is_not_lower_case_is_a_400(
    moderator: TestClient,
) -> None:
    """Second review: Starlette parses ``Application/X-WWW-Form-Urlencoded`` as a form."""
    data = {"body": "nul \x00 here", "csrf_token": csrf_token(moderator, "/signin")}
    response = moderator.post(
        "/papers/2602.08222/comments",
        content=urlencode(data),
        headers={"Content-Type": "Application/X-WWW-Form-Urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400, response.text
    assert "A form field holds a NUL character" in response.text


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/signin", {"login": "a\x00b", "password": "x"}),
        ("/papers/2602.08222/comments", {"body": "nul \x00 here"}),
        ("/orgs", {"name": "lab\x00", "fullname": "Lab"}),
        ("/signup", {"username": "n\x00b", "email": "n@example.org", "password": "x" * 12}),
    ],
)
def test_a_nul_in_a_form_field_is_a_400(
    moderator: TestClient, path: str, data: dict[str, str]
) -> None:
    response = form(moderator, path, data, follow_redirects=False)
    assert response.status_code == 400, response.text
    assert "A form field holds a NUL character" in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/comments/{HUGE}/edit",
        f"/comments/{HUGE}/delete",
        f"/comments/-{HUGE}/delete",
        f"/account/tokens/{HUGE}/revoke",
        f"/moderation/hide_paper/{HUGE}",
        f"/comments/{PAST_INTEGER}/edit",
        f"/comments/{PAST_INTEGER}/delete",
        f"/account/tokens/{PAST_INTEGER}/revoke",
        f"/moderation/hide_paper/{PAST_INTEGER}",
        "/moderation/hide_paper/2147483647",  # in range, no such row: the same 404
        "/moderation/hide_comment/2147483647",
    ],
)
def test_an_id_past_the_id_columns_is_a_404(moderator: TestClient, path: str) -> None:
    response = form(moderator, path, {"body": "edited", "reason": "spam"}, follow_redirects=False)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("parent_id", [HUGE, PAST_INTEGER])
def test_a_parent_id_past_the_id_columns_is_a_400(moderator: TestClient, parent_id: str) -> None:
    response = form(
        moderator,
        "/papers/2602.08222/comments",
        {"body": "a reply", "parent_id": parent_id},
        follow_redirects=False,
    )
    assert response.status_code == 400, response.text
    assert "parent_id" in response.text
