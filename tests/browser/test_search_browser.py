"""Search in a real browser: the header box, highlighted results, a paper's related papers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from dailypapers.config import Settings
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def search_server(search_settings: Settings) -> Iterator[LiveServer]:
    """The demo month with every vector and the model, served on 127.0.0.1."""
    with LiveServer(search_settings) as server:
        yield server


@pytest.mark.parametrize("width", [360, 1280])
def test_search_open_a_result_and_its_related_papers(
    browser: Browser, search_server: LiveServer, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    # Progressive enhancement: the whole flow is plain forms and links.
    try:
        page.goto(search_server.url + "/")
        page.fill(".header-search input[name=q]", "PaperBanana academic illustration")
        page.press(".header-search input[name=q]", "Enter")
        page.wait_for_url("**/search?q=PaperBanana+academic+illustration")
        assert page.input_value("#search-q") == "PaperBanana academic illustration"
        first = page.locator("article.card.result").first
        assert first.get_attribute("data-paper-id") == "2601.23265"
        marked = first.locator("h3 mark").all_inner_texts()
        assert marked[:3] == ["PaperBanana", "Academic", "Illustration"]
        assert first.locator(".snippet mark").count() > 0
        assert page.locator("article.card.result").count() > 1
        assert (
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            <= 0
        )

        # Narrow with the filter fields: they become query syntax and stay filled.
        page.locator("details.filters summary").click()
        page.fill("#search-q", "illustration")
        page.fill("#search-cat", "cs.CV")
        page.check("input[name=code]")
        page.click(".search-form button[type=submit]")
        page.wait_for_url("**/search?q=illustration&*cat=cs.CV*")
        assert page.input_value("#search-cat") == "cs.CV"
        assert page.locator("code.query").inner_text() == "illustration cat:cs.CV has:code"
        assert 0 < page.locator("article.card.result").count() < 20

        page.go_back()
        page.locator("article.card.result h3 a").first.click()
        page.wait_for_url("**/papers/2601.23265")
        assert page.locator("h1").inner_text().startswith("PaperBanana")
        related = page.locator("section.related li a")
        assert 1 <= related.count() <= 6
        titles = related.all_inner_texts()
        assert any("AutoFigure" in title for title in titles)
        related.first.click()
        page.wait_for_url("**/papers/*")
        assert page.locator("h1").inner_text() == titles[0]
        assert page.locator("section.related li a").count() >= 1
    finally:
        page.close()
