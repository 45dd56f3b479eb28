"""The library in a real browser with JavaScript off, since every library action is a plain form
(the site ships no script for it): sign up and confirm the address by the mailed link, save a
paper from a day page's card, find it in the library, mark it read there, and see it collapsed
on the day page once "collapse seen papers" is on; "not interested" collapses by default."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.worker import Worker
from tests.factories import PASSWORD, make_user
from tests.support.live_server import LiveServer
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.browser

DAY = "/papers/date/2026-02-10"
SAVED = "2602.08222"  # the top paper of 2026-02-10 in the demo month


@pytest.fixture
def mail_server(mail_settings: Settings) -> Iterator[LiveServer]:
    """The demo month on 127.0.0.1, its mail going to the recording SMTP server."""
    with LiveServer(mail_settings) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def _send_mail(settings: Settings) -> None:
    """Run the jobs the sign-up queued (the confirmation mail), as ``worker --once`` does."""
    engine = make_engine(settings)
    try:
        Worker(settings, engine, make_session_factory(engine)).run_once()
    finally:
        engine.dispose()


def _sign_up_and_in(page: Page, server: LiveServer, settings: Settings, smtp: SmtpRecorder) -> None:
    page.goto(f"{server.url}/signup")
    page.fill("#username", "ada")
    page.fill("#email", "ada@example.org")
    page.fill("#password", PASSWORD)
    page.click("form[action='/signup'] button")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    _send_mail(settings)
    text = smtp.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://[^/\s]+(/account/verify/\S+)", text)
    assert link, text
    page.goto(server.url + link[1])
    page.goto(f"{server.url}/signin?next={DAY}")
    page.fill("#login", "ada")
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button")
    page.wait_for_url(f"**{DAY}")


def _card(page: Page, arxiv_id: str) -> Locator:
    return page.locator(f'article.card[data-paper-id="{arxiv_id}"]')


def _collapsed(page: Page, arxiv_id: str) -> Locator:
    return page.locator(f'details.collapsed-card[data-paper-id="{arxiv_id}"]')


def _press(page: Page, card: Locator, button: str, landing: str) -> None:
    """Submit one of a card's forms and wait for the page it sends the browser back to (at the
    card: ``#paper-<id>``)."""
    arxiv_id = card.get_attribute("data-paper-id")
    card.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(f"**{landing}#paper-{arxiv_id}")


def test_save_find_in_library_mark_read_and_see_it_collapsed(
    page: Page,
    mail_server: LiveServer,
    mail_settings: Settings,
    smtp: SmtpRecorder,
) -> None:
    _sign_up_and_in(page, mail_server, mail_settings, smtp)
    ids = page.locator("article.card").evaluate_all("cards => cards.map(c => c.dataset.paperId)")
    assert ids[0] == SAVED
    dismissed, untouched = ids[1], ids[2]
    expect(page.locator("details.collapsed-card")).to_have_count(0)

    # Save from the day page's card: back on the same page, the card says so.
    card = _card(page, SAVED)
    title = card.locator("h3 a").inner_text()
    expect(card.locator("button.save-button")).to_have_text("Save")
    _press(page, card, "Save", DAY)
    expect(card.locator("button.save-button")).to_have_text("Saved")
    expect(card.locator("button.save-button")).to_have_attribute("aria-pressed", "true")
    expect(card.locator("h3 .badge.saved")).to_be_visible()

    # "Not interested" collapses at once: collapsing dismissed papers is on by default.
    _press(page, _card(page, dismissed), "Not interested", DAY)
    folded = _collapsed(page, dismissed)
    expect(folded.locator("summary")).to_be_visible()
    expect(folded.locator("summary .badge.dismissed")).to_have_text("not interested")
    expect(_card(page, dismissed)).to_be_hidden()
    expect(_card(page, SAVED)).to_be_visible()  # saved but not yet read: still open

    # In the library: the saved paper, and only it.
    page.get_by_role("link", name="Library").click()
    page.wait_for_url("**/library")
    expect(page.locator("h1")).to_contain_text("1 paper")
    in_library = page.locator("article.card.result")
    expect(in_library).to_have_count(1)
    expect(in_library).to_have_attribute("data-paper-id", SAVED)
    expect(in_library.locator(".saved-at")).to_be_visible()

    # Mark it read from its library card, then ask for seen papers to be collapsed.
    _press(page, in_library, "Mark read", "/library")
    expect(in_library.get_by_role("button", name="Mark unread")).to_be_visible()
    expect(in_library.locator("h3 .badge.seen")).to_have_text("read")
    settings_form = page.locator("form[action='/library/settings']")
    expect(settings_form.get_by_label("Collapse papers I marked")).to_be_checked()
    settings_form.get_by_label("Collapse papers I have seen").check()
    settings_form.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/library")
    expect(settings_form.get_by_label("Collapse papers I have seen")).to_be_checked()

    # Back on the day page: the read paper is one line (its title in the summary), its card
    # hidden; the dismissed one stays folded; a paper the reader never touched is open.
    page.goto(mail_server.url + DAY)
    folded = _collapsed(page, SAVED)
    summary = folded.locator("summary")
    expect(summary).to_be_visible()
    expect(summary.locator(".badge.seen")).to_have_text("read")
    expect(summary.locator(".badge.saved")).to_be_visible()
    expect(_card(page, SAVED)).to_be_hidden()
    expect(_card(page, dismissed)).to_be_hidden()
    expect(_card(page, untouched)).to_be_visible()
    expect(page.locator("details.collapsed-card")).to_have_count(2)
    expect(page.locator("article.card:visible")).to_have_count(len(ids) - 2)
    expect(summary).to_contain_text(title)

    # Opening the summary needs no script: the whole card shows again.
    summary.click()
    expect(_card(page, SAVED)).to_be_visible()
    expect(_card(page, SAVED).get_by_role("button", name="Mark unread")).to_be_visible()


def test_a_form_sends_the_browser_back_to_its_card_not_the_top(
    page: Page, demo_settings: Settings, demo_server: LiveServer
) -> None:
    """Saving the tenth paper of a long day used to reload the page at its top."""
    make_user(demo_settings, "ada")
    page.goto(f"{demo_server.url}/signin?next={DAY}")
    page.fill("#login", "ada")
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button")
    page.wait_for_url(f"**{DAY}")
    tenth = page.locator("article.card").nth(9)
    _press(page, tenth, "Save", DAY)
    expect(tenth.locator("button.save-button")).to_have_text("Saved")
    expect(tenth).to_be_in_viewport()
    expect(page.locator("article.card").first).not_to_be_in_viewport()
