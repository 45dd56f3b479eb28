"""Follows through the pages (no JavaScript): follow, channels, unfollow, the Following page
and its feed address, CSRF, anonymous readers, another user's follow, hostile input."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dailypapers.config import Settings
from dailypapers.models import AlertFeedToken, Follow
from dailypapers.web.app import create_app
from tests.factories import make_user
from tests.support.database import db_session
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.both_backends


@pytest.fixture
def client(demo_settings: Settings) -> Iterator[TestClient]:
    make_user(demo_settings, "ada")
    with TestClient(create_app(demo_settings)) as client:
        sign_in(client, "ada")
        yield client


def _follows(settings: Settings) -> list[tuple[str, str, list[str]]]:
    with db_session(settings) as session:
        rows = session.scalars(select(Follow).order_by(Follow.id)).all()
        return [(row.kind, row.target, list(row.channels)) for row in rows]


def _count(settings: Settings) -> int:
    with db_session(settings) as session:
        return session.scalar(select(func.count()).select_from(Follow)) or 0


def test_follow_toggle_channels_and_unfollow(client: TestClient, demo_settings: Settings) -> None:
    made = form(
        client,
        "/follows",
        {"kind": "search", "target": "diffusion", "next": "/search?q=diffusion"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/search?q=diffusion"
    form(client, "/follows", {"kind": "category", "target": "CS.cl", "label": "<b>NLP</b>"})
    assert _follows(demo_settings) == [
        ("search", "diffusion", ["email", "feed"]),
        ("category", "cs.CL", ["email", "feed"]),
    ]
    page = client.get("/account/follows")
    assert page.status_code == 200
    assert "&lt;b&gt;NLP&lt;/b&gt;" in page.text
    assert "<b>NLP" not in page.text
    ids = [int(i) for i in re.findall(r'action="/follows/(\d+)/delete"', page.text)]
    assert len(ids) == 2
    toggled = form(
        client,
        f"/follows/{ids[0]}/channels",
        {"webhook": "1", "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert toggled.status_code == 303
    assert toggled.headers["location"] == "/account/follows"  # never another site
    assert _follows(demo_settings)[0][2] == ["webhook"]
    gone = form(client, f"/follows/{ids[0]}/delete", {}, follow_redirects=False)
    assert gone.status_code == 303
    assert [kind for kind, _, _ in _follows(demo_settings)] == ["category"]
    assert form(client, f"/follows/{ids[0]}/delete", {}).status_code == 404


def test_the_following_page_shows_the_feed_address_and_a_new_one_revokes_it(
    client: TestClient, demo_settings: Settings
) -> None:
    assert 'href="/account/follows"' in client.get("/account").text
    page = client.get("/account/follows").text
    token = re.search(r"/feeds/me/([A-Za-z0-9_-]{43})\.atom", page)
    assert token, page
    assert f"/feeds/me/{token[1]}.json" in page
    assert client.get(f"/feeds/me/{token[1]}.atom").status_code == 200
    renewed = form(client, "/account/follows/feed-token", {}, follow_redirects=False)
    assert renewed.status_code == 303
    assert client.get(f"/feeds/me/{token[1]}.atom").status_code == 404
    with db_session(demo_settings) as session:
        new = session.scalars(select(AlertFeedToken.token)).one()
    assert new != token[1]
    assert f"/feeds/me/{new}.json" in client.get("/account/follows").text


def test_without_the_csrf_token_nothing_is_followed(
    client: TestClient, demo_settings: Settings
) -> None:
    refused = client.post("/follows", data={"kind": "search", "target": "diffusion"})
    assert refused.status_code == 403
    assert _count(demo_settings) == 0


def test_anonymous_readers_are_sent_to_sign_in(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as anonymous:
        page = anonymous.get("/account/follows", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/signin")
        posted = form(
            anonymous, "/follows", {"kind": "search", "target": "x"}, follow_redirects=False
        )
        assert posted.status_code in (303, 401)
    assert _count(demo_settings) == 0


def test_another_users_follow_cannot_be_changed(demo_settings: Settings) -> None:
    make_user(demo_settings, "ada")
    make_user(demo_settings, "bob")
    app = create_app(demo_settings)
    with TestClient(app) as ada, TestClient(app) as bob:
        sign_in(ada, "ada")
        sign_in(bob, "bob")
        form(ada, "/follows", {"kind": "category", "target": "cs.LG"})
        follow_id = re.findall(r"/follows/(\d+)/delete", ada.get("/account/follows").text)[0]
        assert form(bob, f"/follows/{follow_id}/delete", {}).status_code == 404
        assert form(bob, f"/follows/{follow_id}/channels", {"email": "1"}).status_code == 404
        assert "cs.LG" not in bob.get("/account/follows").text
    assert _follows(demo_settings) == [("category", "cs.LG", ["email", "feed"])]


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "search", "target": "diff\x00usion"},
        {"kind": "search", "target": "x" * 10_000},
        {"kind": "author", "target": "<script>alert(1)</script>" * 400},
        {"kind": "search", "target": ""},
        {"kind": "planet", "target": "Mars"},
        {"kind": "org", "target": "no-such-org"},
        {"kind": "category", "target": "not a category"},
        {"kind": "search", "target": "diffusion", "label": "y" * 10_000},
    ],
)
def test_hostile_follow_input_is_a_4xx_and_stores_nothing(
    client: TestClient, demo_settings: Settings, data: dict[str, str]
) -> None:
    answer = form(client, "/follows", data)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert _count(demo_settings) == 0


@pytest.mark.parametrize("follow_id", ["99999999999999999999", "2147483648", "0", "-1", "x"])
def test_huge_or_odd_ids_are_4xx(client: TestClient, follow_id: str) -> None:
    for action in ("delete", "channels"):
        answer = form(client, f"/follows/{follow_id}/{action}", {})
        assert 400 <= answer.status_code < 500, (action, follow_id, answer.status_code)


def test_the_search_page_follows_its_query(client: TestClient, demo_settings: Settings) -> None:
    page = client.get("/search?q=diffusion").text
    assert 'action="/follows"' in page
    assert 'name="target" value="diffusion"' in page
    form(client, "/follows", {"kind": "search", "target": "diffusion"})
    page = client.get("/search?q=diffusion").text
    assert "Following ✓" in page
    assert re.search(r'action="/follows/\d+/delete"', page)
    assert page.count('class="inline follow-form"') == 1  # one button, none on the cards
    with TestClient(create_app(demo_settings)) as anonymous:
        page = anonymous.get("/search?q=diffusion").text
        assert "Sign in to follow" in page
        assert 'action="/follows"' not in page


def test_an_org_page_follows_the_org(demo_settings: Settings) -> None:
    make_user(demo_settings, "owner")
    with TestClient(create_app(demo_settings)) as owner:
        sign_in(owner, "owner")
        form(owner, "/orgs", {"name": "deeplab", "fullname": "Deep Lab"})
        page = owner.get("/orgs/deeplab").text
        assert 'name="kind" value="org"' in page
        assert form(owner, "/follows", {"kind": "org", "target": "DeepLab"}).status_code == 200
        assert "Following ✓" in owner.get("/orgs/deeplab").text
    assert _follows(demo_settings) == [("org", "deeplab", ["email", "feed"])]
