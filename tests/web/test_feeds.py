"""Atom feeds parsed as XML and compared with the lists they mirror."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from tests.factories import add_daily_paper

pytestmark = pytest.mark.both_backends


ATOM = "{http://www.w3.org/2005/Atom}"


def _entries(client: TestClient, path: str) -> tuple[ET.Element, list[ET.Element]]:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    return feed, feed.findall(f"{ATOM}entry")


def test_day_feed_matches_the_api_order(demo_client: TestClient) -> None:
    feed, entries = _entries(demo_client, "/feeds/day/2026-02-10.atom")
    assert feed.findtext(f"{ATOM}title") == "Daily Papers: Tuesday, February 10, 2026"
    api = demo_client.get("/api/daily_papers", params={"date": "2026-02-10"}).json()
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"http://testserver/papers/{item['paper']['id']}" for item in api
    ]
    first = entries[0]
    assert first.find(f"{ATOM}author/{ATOM}name") is not None
    links = [link.get("href") for link in first.findall(f"{ATOM}link")]
    assert links == ["http://testserver/papers/2602.08222"]
    content = first.find(f"{ATOM}content")
    assert content is not None
    assert content.get("type") == "html"
    assert 'href="https://arxiv.org/abs/2602.08222"' in (content.text or "")


def test_week_month_trending_and_latest_feeds(demo_client: TestClient) -> None:
    assert len(_entries(demo_client, "/feeds/week/2026-W07.atom")[1]) == 50
    assert len(_entries(demo_client, "/feeds/month/2026-02.atom")[1]) == 50
    assert len(_entries(demo_client, "/feeds/trending.atom")[1]) == 50
    _, latest = _entries(demo_client, "/feeds/latest.atom")
    assert len(latest) == 28


def test_bad_feed_dates_are_400(demo_client: TestClient) -> None:
    assert demo_client.get("/feeds/day/2026-02-31.atom").status_code == 400
    assert demo_client.get("/feeds/week/2026-W00.atom").status_code == 400


def test_markup_in_titles_stays_text_in_the_feed(
    demo_client: TestClient, demo_settings: Settings
) -> None:
    add_daily_paper(demo_settings, arxiv_id="2602.99998", title="<b>Bold</b> & $x<y$", upvotes=900)
    _, entries = _entries(demo_client, "/feeds/latest.atom")
    assert entries[0].findtext(f"{ATOM}title") == "<b>Bold</b> & $x<y$"


def test_characters_xml_forbids_never_reach_a_feed(
    demo_client: TestClient, demo_settings: Settings
) -> None:
    add_daily_paper(
        demo_settings, arxiv_id="2602.99997", title="Bad \uffff title \x07", upvotes=950
    )
    _, entries = _entries(demo_client, "/feeds/latest.atom")
    assert entries[0].findtext(f"{ATOM}title") == "Bad  title "
