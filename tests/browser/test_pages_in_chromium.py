"""Pages in a real browser: no horizontal scrolling from 360 px to 1280 px, navigation works."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from dailypapers.config import Settings
from tests.factories import PASSWORD, add_daily_paper, make_user
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser

PATHS = [
    "/",
    "/papers/date/2026-02-10",
    "/papers/week/2026-W07",
    "/papers/month/2026-02?page=3",
    "/papers/trending",
    "/papers/2601.23265",
    "/papers/2602.77777",
    "/about/ranking",
    "/papers/date/2025-13-40",
    "/papers/2601.99999",
    "/subscribe",
    "/digests",
    "/digests/daily/2026-02-10",
    "/signin",
    "/signup",
    "/account/reset",
]
LONG_WORD = "Supercalifragilistic" * 12


def _add_paper_with_long_words(settings: Settings) -> None:
    add_daily_paper(
        settings,
        arxiv_id="2602.77777",
        title=f"{LONG_WORD}: a title with no place to break",
        abstract=f"See https://example.org/{'x' * 200} and {LONG_WORD}.",
        authors=(LONG_WORD, "Ada Lovelace"),
        upvotes=500,
    )


def _overflow(page: Page) -> int:
    width: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


@pytest.mark.parametrize("width", [360, 768, 1280])
def test_no_horizontal_scrolling(
    browser: Browser, demo_settings: Settings, demo_server: LiveServer, width: int
) -> None:
    _add_paper_with_long_words(demo_settings)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        for path in PATHS:
            page.goto(demo_server.url + path)
            assert page.locator("h1").first.is_visible(), path
            assert _overflow(page) <= 0, f"{path} scrolls sideways at {width}px"
    finally:
        context.close()


def test_day_navigation_and_opening_a_paper(browser: Browser, demo_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        page.goto(demo_server.url + "/papers/date/2026-02-10")
        assert "Tuesday, February 10, 2026" in page.locator("h1").inner_text()
        page.locator(".daynav a[rel=next]").click()
        page.wait_for_url("**/papers/date/2026-02-11")
        assert "Wednesday, February 11, 2026" in page.locator("h1").inner_text()
        page.locator(".daynav a[rel=prev]").click()
        page.wait_for_url("**/papers/date/2026-02-10")
        first_card = page.locator("article.card").first
        title = first_card.locator("h3").inner_text()
        first_card.locator("h3 a").click()
        page.wait_for_url("**/papers/2602.08222")
        assert page.locator("h1").inner_text() == title
        assert page.locator("a", has_text="PDF").get_attribute("href") == (
            "https://arxiv.org/pdf/2602.08222"
        )
        page.locator("nav a", has_text="Trending").click()
        page.wait_for_url("**/papers/trending")
        assert page.locator("article.card").count() == 50
    finally:
        page.close()


def test_subscribing_from_a_feed_page_and_fixing_a_bad_address(
    browser: Browser, demo_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        page.goto(demo_server.url + "/papers/date/2026-02-10")
        page.fill("#subscribe-email", "reader@example.org")
        page.select_option(".subscribe-box select", "weekly")
        page.click(".subscribe-box button")
        page.wait_for_url("**/subscribe")
        assert page.locator("h1").inner_text() == "Check your inbox"
        assert "weekly digest" in page.locator("main").inner_text()

        page.goto(demo_server.url + "/subscribe")
        page.fill("#email", "not an address")
        page.fill("#topic", "diffusion -video")
        page.click("form[action='/subscribe'] button")
        assert page.locator("#email-error").is_visible()
        assert page.input_value("#topic") == "diffusion -video"
        assert page.input_value("#email") == "not an address"
    finally:
        page.close()


def test_signing_in_upvoting_and_commenting(
    browser: Browser, demo_settings: Settings, demo_server: LiveServer
) -> None:
    make_user(demo_settings, "ada", fullname="Ada Lovelace")
    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        page.goto(demo_server.url + "/signin?next=/papers/date/2026-02-10")
        page.fill("#login", "ada")
        page.fill("#password", PASSWORD)
        page.click("form[action='/signin'] button")
        page.wait_for_url("**/papers/date/2026-02-10")
        assert page.locator(".user-menu").inner_text().startswith("Library\nSubmit a paper")
        first = page.locator("article.card").first
        before = int(first.locator(".count").inner_text())
        first.locator("button.vote-button").click()
        page.wait_for_load_state()
        first = page.locator("article.card").first
        assert int(first.locator(".count").inner_text()) == before + 1
        assert first.locator("button.vote-button").get_attribute("aria-pressed") == "true"
        assert _overflow(page) <= 0

        first.locator("h3 a").click()
        page.fill("#comment-body", "A **bold** remark <script>alert(1)</script>")
        page.click("#new-comment button")
        comment = page.locator(".comment").first
        assert "Ada Lovelace" in comment.inner_text()
        assert comment.locator("strong").inner_text() == "bold"
        assert comment.locator("script").count() == 0
        assert _overflow(page) <= 0
        for path in ("/account", "/papers/submit", "/orgs/new"):
            page.goto(demo_server.url + path)
            assert _overflow(page) <= 0, path
    finally:
        page.close()


def test_no_page_breaks_its_content_security_policy(
    browser: Browser, demo_server: LiveServer
) -> None:
    """Every page (and the API docs' Swagger UI, served from this site) runs under the CSP
    without a single refused style, script or image."""
    page = browser.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        for path in [*PATHS, "/docs"]:
            page.goto(demo_server.url + path)
        page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI drew the operations
        assert page.locator(".opblock").count() > 3
    finally:
        page.close()
    assert refused == []
