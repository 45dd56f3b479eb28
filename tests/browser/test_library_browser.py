"""The library in a real browser, without JavaScript doing any of it: save from a card (and land
back at that card, not at the top of the list), find it in the library, mark another paper
read and see it collapsed in the feed once the setting says so."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from dailypapers.config import Settings
from tests.factories import PASSWORD, make_user
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser
DAY = "/papers/date/2026-02-10"


def test_save_from_a_card_mark_read_and_see_it_collapsed(
    browser: Browser, demo_settings: Settings, demo_server: LiveServer
) -> None:
    make_user(demo_settings, "ada")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(demo_server.url + f"/signin?next={DAY}")
        page.fill("#login", "ada")
        page.fill("#password", PASSWORD)
        page.click("form[action='/signin'] button")
        page.wait_for_url(f"**{DAY}")

        cards = page.locator("article.card")
        saved_id = cards.nth(9).get_attribute("data-paper-id")
        read_id = cards.nth(1).get_attribute("data-paper-id")
        cards.nth(9).locator("button.save-button").click()
        page.wait_for_url(f"**{DAY}#paper-{saved_id}")
        card = page.locator(f"article.card[data-paper-id='{saved_id}']")
        assert card.locator("button.save-button").get_attribute("aria-pressed") == "true"
        assert page.evaluate("window.scrollY") > 0  # back at the card, not at the top
        assert card.is_visible()

        page.goto(demo_server.url + "/library")
        assert page.locator(f"article.card[data-paper-id='{saved_id}']").count() == 1

        page.goto(demo_server.url + DAY)
        other = page.locator(f"article.card[data-paper-id='{read_id}']")
        other.locator("form[action$='/mark'] button", has_text="Mark read").click()
        page.wait_for_load_state()
        assert page.locator(f"details.collapsed-card[data-paper-id='{read_id}']").count() == 0

        page.goto(demo_server.url + "/library")
        page.check("input[name='collapse_seen']")
        page.click("form[action='/library/settings'] button")
        page.goto(demo_server.url + DAY)
        collapsed = page.locator(f"details.collapsed-card[data-paper-id='{read_id}']")
        assert collapsed.count() == 1
        assert not collapsed.locator("article.card").is_visible()
        collapsed.locator("summary").click()  # opens without JavaScript
        assert collapsed.locator("article.card").is_visible()
        # A saved paper stays open even when seen.
        assert page.locator(f"details.collapsed-card[data-paper-id='{saved_id}']").count() == 0
    finally:
        page.close()
