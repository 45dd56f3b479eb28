"""Alert feeds through the app (SQLite and PostgreSQL): the private feed fed by the worker's
match_alerts job, token revocation, public feeds; Atom parses without bozo in feedparser and
the JSON Feed 1.1 required fields are there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dailypapers.alerts.feeds import feed_token
from dailypapers.config import Settings
from dailypapers.db import make_session_factory
from dailypapers.follows import follow
from dailypapers.web.app import create_app
from dailypapers.worker import Worker
from tests.factories import add_daily_paper, make_user
from tests.support.database import db_session

pytestmark = pytest.mark.both_backends
NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _atom_ok(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def _json_feed_ok(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/feed+json")
    document: dict[str, Any] = response.json()
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"]
    assert isinstance(document["items"], list)
    for item in document["items"]:
        assert item["id"]
        assert item["url"].startswith("http")
        assert item.get("content_html") or item.get("content_text")
        dt.datetime.fromisoformat(item["date_published"])  # RFC 3339
        assert "+00:00" in item["date_published"]
    return document


def test_private_feed_lists_matches_with_reasons_and_a_new_token_revokes_it(
    settings: Settings, engine: Engine, client: TestClient
) -> None:
    add_daily_paper(settings, arxiv_id="2602.00001", title="Old", authors=("Ada Lovelace",))
    reader = make_user(settings, "reader")
    with db_session(settings) as session, session.begin():
        follow(session, reader, "author", "Ada Lovelace", NOW)
        follow(session, reader, "search", "engines", NOW)
        token = feed_token(session, reader, NOW)
    add_daily_paper(
        settings,
        arxiv_id="2602.00002",
        title="Analytical <engines> & notes",
        abstract="On engines.",
        authors=("Ada Lovelace",),
        categories=("cs.CL",),
    )
    Worker(settings, engine, make_session_factory(engine)).run_once()  # match_alerts runs
    atom = _atom_ok(client, f"/feeds/me/{token}.atom")
    assert [entry.title for entry in atom.entries] == ["Analytical <engines> & notes"]
    content = atom.entries[0].content[0].value
    assert "by Ada Lovelace, whom you follow" in content
    assert "matches your search “engines”" in content
    document = _json_feed_ok(client, f"/feeds/me/{token}.json")
    assert [item["title"] for item in document["items"]] == ["Analytical <engines> & notes"]
    assert "whom you follow" in document["items"][0]["summary"]
    with db_session(settings) as session, session.begin():
        new = feed_token(session, reader, NOW, regenerate=True)
    assert new != token
    assert client.get(f"/feeds/me/{token}.atom").status_code == 404
    assert client.get(f"/feeds/me/{token}.json").status_code == 404
    assert client.get(f"/feeds/me/{new}.atom").status_code == 200
    for bad in ("x" * 10_000, "%00", "<b>"):
        assert client.get(f"/feeds/me/{bad}.atom").status_code in {400, 404}


def test_public_feeds_of_a_search_an_author_and_a_category(
    settings: Settings, client: TestClient
) -> None:
    add_daily_paper(
        settings,
        arxiv_id="2602.00002",
        title="Diffusion for text",
        authors=("José-Luis Pérez",),
        categories=("cs.CL",),
    )
    add_daily_paper(settings, arxiv_id="2602.00003", title="Graphs", categories=("math.CO",))
    for path, title in [
        ("/feeds/search.atom?q=diffusion", "Diffusion for text"),
        ('/feeds/search.atom?q=author:"Jose Luis Perez"', "Diffusion for text"),
        ("/feeds/authors/jose-luis-perez.atom", "Diffusion for text"),
        ("/feeds/categories/cs.CL.atom", "Diffusion for text"),
        ("/feeds/categories/math.atom", "Graphs"),
    ]:
        assert [e.title for e in _atom_ok(client, path).entries] == [title], path
        json_path = path.replace(".atom", ".json")
        assert [i["title"] for i in _json_feed_ok(client, json_path)["items"]] == [title]
    assert _atom_ok(client, "/feeds/authors/nobody-here.atom").entries == []


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/search.atom?q=",
        "/feeds/search.atom?q=%00diffusion",
        f"/feeds/search.atom?q={'x' * 10_000}",
        "/feeds/search.xml?q=diffusion",
        "/feeds/categories/cs%20CL%3Cb%3E.atom",
        "/feeds/authors/---.atom",
    ],
)
def test_bad_public_feed_requests_are_4xx(client: TestClient, path: str) -> None:
    assert 400 <= client.get(path).status_code < 500
