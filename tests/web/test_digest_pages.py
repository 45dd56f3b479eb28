"""Public digest pages and their Atom feeds; the subscribe box on every feed page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lxml import etree

pytestmark = pytest.mark.both_backends


ATOM = "{http://www.w3.org/2005/Atom}"


def test_a_daily_digest_page_lists_the_top_papers_of_the_day(demo_client: TestClient) -> None:
    response = demo_client.get("/digests/daily/2026-02-10")
    assert response.status_code == 200
    assert "Daily digest" in response.text
    assert response.text.count('class="card"') == 10  # DIGEST_DEFAULT_PAPERS
    assert response.text.index("Weak-Driven Learning") < response.text.index("TermiGen")
    assert 'href="/papers/date/2026-02-10"' in response.text


def test_a_weekly_digest_page_and_an_empty_day(demo_client: TestClient) -> None:
    week = demo_client.get("/digests/weekly/2026-W07")
    assert week.status_code == 200
    assert "Week 7, 2026" in week.text
    weekend = demo_client.get("/digests/daily/2026-02-14")
    assert weekend.status_code == 200
    assert "is a weekend" in weekend.text


def test_bad_and_future_digest_periods(demo_client: TestClient) -> None:
    assert demo_client.get("/digests/daily/2026-02-30").status_code == 400
    assert demo_client.get("/digests/weekly/2026-W60").status_code == 400
    assert demo_client.get("/digests/hourly/2026-02-10").status_code == 404
    future = demo_client.get("/digests/daily/2026-03-10")  # TODAY is 2026-02-27
    assert future.status_code == 404
    assert "does not exist yet" in future.text


def test_the_digest_feeds_hold_closed_periods(demo_client: TestClient) -> None:
    for cadence, first in (("daily", "2026-02-26"), ("weekly", "2026-W08")):
        response = demo_client.get(f"/digests/{cadence}.atom")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        root = etree.fromstring(response.content)
        entries = root.findall(f"{ATOM}entry")
        assert entries
        link = entries[0].find(f"{ATOM}link").get("href")  # type: ignore[union-attr]
        assert link == f"http://testserver/digests/{cadence}/{first}"
        assert "<ol><li>" in entries[0].findtext(f"{ATOM}content", "")


def test_the_digest_index_links_every_recent_digest(demo_client: TestClient) -> None:
    response = demo_client.get("/digests")
    assert response.status_code == 200
    assert 'href="/digests/daily/2026-02-26"' in response.text
    assert 'href="/digests/weekly/2026-W08"' in response.text
    assert 'href="/digests/daily/2026-02-27"' not in response.text  # today is not over


def test_every_feed_page_has_a_subscribe_box(demo_client: TestClient) -> None:
    for path in (
        "/",
        "/papers/date/2026-02-10",
        "/papers/week/2026-W07",
        "/papers/month/2026-02",
        "/papers/trending",
        "/digests/daily/2026-02-10",
    ):
        page = demo_client.get(path)
        assert 'action="/subscribe"' in page.text, path
    form = demo_client.get("/subscribe?email=a%40example.org&topic=agents")
    assert 'value="a@example.org"' in form.text
    assert 'value="agents"' in form.text
