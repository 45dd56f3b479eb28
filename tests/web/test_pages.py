"""Every page through the in-process ASGI client, on a copy of the demo month."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.models import PaperVersion
from dailypapers.papers import get_paper
from dailypapers.web.app import create_app
from tests.factories import add_daily_paper, load_api_fixture
from tests.support.queries import QueryCounter

pytestmark = pytest.mark.both_backends

CARD = re.compile(r'<article class="card" data-paper-id="([^"]+)"')


def _cards(html: str) -> list[str]:
    return CARD.findall(html)


def test_home_shows_the_latest_day_ranked_by_upvotes(demo_client: TestClient) -> None:
    response = demo_client.get("/")
    assert response.status_code == 200
    assert "Friday, February 27, 2026" in response.text
    cards = _cards(response.text)
    assert len(cards) == 28
    counts = [int(n) for n in re.findall(r'<span class="count">(\d+)</span>', response.text)]
    assert counts == sorted(counts, reverse=True)
    assert 'rel="alternate" type="application/atom+xml"' in response.text
    assert 'href="/feeds/day/2026-02-27.atom"' in response.text


def test_day_page_has_navigation_paging_and_card_contents(demo_client: TestClient) -> None:
    page = demo_client.get("/papers/date/2026-02-10")
    assert page.status_code == 200
    html = page.text
    assert len(_cards(html)) == 50
    assert 'href="/papers/date/2026-02-09"' in html
    assert 'href="/papers/date/2026-02-11"' in html
    assert 'href="/papers/date/2026-02-10?page=2"' in html
    assert _cards(html)[0] == "2602.08222"
    assert "https://arxiv.org/abs/2602.08222" in html
    assert "https://arxiv.org/pdf/2602.08222" in html
    assert ">Code</a>" in html
    second = demo_client.get("/papers/date/2026-02-10?page=2")
    assert len(_cards(second.text)) == 8
    assert not set(_cards(second.text)) & set(_cards(html))


def test_weekend_future_and_empty_pages_say_why(demo_client: TestClient) -> None:
    weekend = demo_client.get("/papers/date/2026-02-14")
    assert weekend.status_code == 200
    assert "Saturday, February 14, 2026 is a weekend" in weekend.text
    assert 'href="/papers/date/2026-02-13"' in weekend.text
    future = demo_client.get("/papers/date/2026-03-02")
    assert future.status_code == 200
    assert "has not happened yet" in future.text
    past = demo_client.get("/papers/month/2025-06")
    assert past.status_code == 200
    assert "No papers were put on the list in June 2025" in past.text


def test_the_calendar_tells_holidays_and_days_not_ingested(demo_settings: Settings) -> None:
    settings = demo_settings.model_copy(
        update={"today": dt.date(2026, 3, 6), "holidays": [dt.date(2026, 3, 3)]}
    )
    with TestClient(create_app(settings)) as client:
        kinds = {
            day: re.search(r'data-kind="(\w+)"', client.get(f"/papers/date/{day}").text)
            for day in ("2026-03-02", "2026-03-03", "2026-01-30", "2026-02-28")
        }
        assert {day: match[1] if match else None for day, match in kinds.items()} == {
            "2026-03-02": "not_ingested",
            "2026-03-03": "holiday",
            "2026-01-30": "empty",
            "2026-02-28": "weekend",
        }
        assert "has not been ingested yet" in client.get("/papers/date/2026-03-02").text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/papers/date/2025-13-40", "not a real calendar date"),
        ("/papers/date/yesterday", "expected YYYY-MM-DD"),
        ("/papers/week/2026-W99", "has no ISO week 99"),
        ("/papers/month/2026-00", "not a real month"),
        ("/papers/date/2026-02-10?page=0", "page"),
        ("/papers/date/2026-02-10?page=abc", "page"),
    ],
)
def test_bad_dates_in_urls_get_a_friendly_400(
    demo_client: TestClient, path: str, message: str
) -> None:
    response = demo_client.get(path)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert "Back to today" in response.text


def test_week_and_month_pages(demo_client: TestClient) -> None:
    week = demo_client.get("/papers/week/2026-W07")
    assert week.status_code == 200
    assert "247 papers" in week.text
    assert 'href="/papers/week/2026-W06"' in week.text
    assert 'href="/papers/week/2026-W08"' in week.text
    month = demo_client.get("/papers/month/2026-02")
    assert month.status_code == 200
    assert "783 papers" in month.text
    assert len(_cards(month.text)) == 50
    assert 'href="/papers/month/2026-03"' not in month.text  # after "today"


def test_trending_page_explains_each_card(demo_client: TestClient) -> None:
    response = demo_client.get("/papers/trending")
    assert response.status_code == 200
    assert len(_cards(response.text)) == 50
    assert response.text.count("Why here:") == 50
    assert 'href="/feeds/trending.atom"' in response.text


def test_about_ranking_shows_the_formula(demo_client: TestClient) -> None:
    response = demo_client.get("/about/ranking")
    assert "log10(max(upvotes, 1))" in response.text
    assert "24 hours" in response.text


def test_paper_page(demo_settings: Settings, demo_client: TestClient) -> None:
    engine = make_engine(demo_settings)
    with make_session_factory(engine).begin() as session:
        paper = get_paper(session, "2601.23265")
        assert paper is not None
        session.add_all(
            [
                PaperVersion(
                    paper_id=paper.id,
                    version=1,
                    submitted_at=dt.datetime(2026, 1, 30, tzinfo=dt.UTC),
                ),
                PaperVersion(
                    paper_id=paper.id,
                    version=2,
                    submitted_at=dt.datetime(2026, 2, 3, tzinfo=dt.UTC),
                ),
            ]
        )
    engine.dispose()
    html = demo_client.get("/papers/2601.23265").text
    assert "PaperBanana: Automating Academic Illustration for AI Scientists" in html
    assert (
        '<a href="/authors/dawei-zhu">Dawei Zhu</a>, <a href="/authors/rui-meng">Rui Meng</a>'
    ) in html
    assert "<strong>188</strong> upvotes" in html
    assert 'href="/papers/date/2026-02-02"' in html
    assert "https://arxiv.org/abs/2601.23265v2" in html
    assert "Feb 3, 2026" in html
    assert "https://github.com/" in html
    assert "Despite rapid advances in autonomous AI scientists" in html
    versioned = demo_client.get("/papers/2601.23265v2")
    assert versioned.status_code == 200


def test_paper_page_without_abstract(demo_client: TestClient) -> None:
    html = demo_client.get("/papers/2601.23182").text
    assert "No abstract is known for this paper yet." in html


def test_unknown_and_malformed_papers_are_404_pages(demo_client: TestClient) -> None:
    unknown = demo_client.get("/papers/2601.99999")
    assert unknown.status_code == 404
    assert "not in this site" in unknown.text
    malformed = demo_client.get("/papers/not-a-paper")
    assert malformed.status_code == 404
    assert "is not an arXiv id" in malformed.text
    nowhere = demo_client.get("/no/such/page")
    assert nowhere.status_code == 404
    assert "Not found" in nowhere.text


def test_old_style_ids_with_a_slash(demo_settings: Settings, demo_client: TestClient) -> None:
    add_daily_paper(demo_settings)
    page = demo_client.get("/papers/hep-th/9901001")
    assert page.status_code == 200
    assert "Old style" in page.text
    markdown = demo_client.get("/papers/hep-th/9901001.md")
    assert markdown.status_code == 200
    assert markdown.text.startswith("# Old style")


def test_markdown_of_a_paper(demo_client: TestClient) -> None:
    response = demo_client.get("/papers/2601.23265.md")
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text.startswith("# PaperBanana")
    assert "## Abstract" in response.text
    assert "Upvotes: 188" in response.text


def test_html_in_titles_and_names_is_inert(
    demo_settings: Settings, demo_client: TestClient
) -> None:
    add_daily_paper(
        demo_settings,
        arxiv_id="2602.99999",
        title='<script>alert("x")</script> $\\alpha$ <img src=x onerror=alert(1)>',
        authors=("<b>Mallory</b>",),
        upvotes=10_000,
    )
    for path in ("/", "/papers/2602.99999", "/papers/trending"):
        html = demo_client.get(path).text
        assert '<script>alert("x")</script>' not in html
        assert "<img src=x" not in html
        assert "<b>Mallory</b>" not in html
        assert "&lt;script&gt;" in html


def test_healthz(demo_client: TestClient) -> None:
    response = demo_client.get("/healthz")
    assert response.json() == {"status": "ok", "database": "ok"}


def test_feed_page_query_count_is_bounded(demo_settings: Settings) -> None:
    app = create_app(demo_settings)
    with TestClient(app) as client, QueryCounter(app.state.engine) as counter:
        client.get("/papers/month/2026-02")
    # entries with papers, submitters and orgs; the total count; the links need none.
    assert counter.count <= 2, counter.statements


def test_empty_store_front_page(settings: Settings, session: Session) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/")
    assert response.status_code == 200
    assert "No papers yet" in response.text


def test_static_files_and_openapi(demo_client: TestClient) -> None:
    assert demo_client.get("/static/style.css").status_code == 200
    assert demo_client.get("/openapi.json").json()["info"]["title"] == "Daily Papers"
    assert demo_client.get("/docs").status_code == 200


def test_paper_page_shows_ai_summary_submitter_and_org(
    demo_settings: Settings, demo_client: TestClient
) -> None:
    load_api_fixture(demo_settings)
    html = demo_client.get("/papers/2602.08222").text
    assert "AI summary" in html
    assert "A hand-written one-sentence summary used only by the tests." in html
    assert "Organization: Example Lab" in html
    assert "Submitted by</dt><dd>Ada Lovelace" in html
    assert "★ 120" in html
    card = demo_client.get("/papers/date/2026-02-10").text
    assert "submitted by Ada Lovelace" in card
    assert 'class="org">Example Lab' in card
    # A javascript: project page from the source never becomes a link.
    assert "javascript:" not in demo_client.get("/papers/2602.07085").text


@pytest.mark.parametrize(
    "path",
    ["/papers/month/9999-12", "/papers/week/0001-W01", "/feeds/month/9999-12.atom", "/papers/x.md"],
)
def test_edge_addresses_are_400(demo_client: TestClient, path: str) -> None:
    assert demo_client.get(path).status_code == 400
