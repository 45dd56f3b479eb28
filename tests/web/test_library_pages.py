"""The library through the pages: save from a card, marks on cards, notes, collections and their
public pages and feeds, another user's view, and the fixed statement count of list pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.config import Settings
from dailypapers.library import collections, saves
from dailypapers.models import Collection, Paper, PaperMark, Save, User
from dailypapers.web.app import create_app
from tests.factories import make_user
from tests.support.database import db_session
from tests.support.queries import QueryCounter
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.both_backends

DAY = "/papers/date/2026-02-10"
PAPER = "2602.08222"  # the top paper of 2026-02-10 in the demo month


@pytest.fixture
def client(demo_settings: Settings) -> Iterator[TestClient]:
    make_user(demo_settings, "ada")
    with TestClient(create_app(demo_settings)) as client:
        sign_in(client, "ada")
        yield client


def _card(html: str, arxiv_id: str) -> str:
    start = html.index(f'data-paper-id="{arxiv_id}"')
    return html[start : html.index("</article>", start)]


def _folded(html: str, arxiv_id: str) -> str | None:
    """The summary line of the paper's card when it is collapsed, else ``None``."""
    found = re.search(
        rf'<details class="collapsed-card" data-paper-id="{arxiv_id}"[^>]*>'
        r"<summary>(.*?)</summary>",
        html,
        re.S,
    )
    return found[1].strip() if found else None


def test_save_from_a_card_then_find_it_in_the_library(client: TestClient) -> None:
    day = client.get(DAY).text
    card = _card(day, PAPER)
    assert card.count("<form") == 2  # the upvote and the card's one library form
    assert f'action="/papers/{PAPER}/library"' in card
    assert 'name="do" value="save"' in card
    saved = form(
        client,
        f"/papers/{PAPER}/library",
        {"do": "save"},
        headers={"referer": f"http://testserver{DAY}"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{DAY}#paper-{PAPER}"  # back at the card, not the top
    card = _card(client.get(DAY).text, PAPER)
    assert f'id="paper-{PAPER}"' in card
    assert 'class="badge saved"' in card
    assert re.search(r'save-button" aria-pressed="true">Saved<', card)
    library = client.get("/library")
    assert library.status_code == 200
    assert f'data-paper-id="{PAPER}"' in library.text
    assert library.headers["cache-control"] == "no-store"
    form(client, f"/papers/{PAPER}/library", {"do": "unsave"})
    assert f'data-paper-id="{PAPER}"' not in client.get("/library").text


def test_a_cards_form_does_each_action_and_refuses_others(client: TestClient) -> None:
    for do, shown in (
        ("read", 'class="badge seen">read'),
        ("dismiss", 'class="badge dismissed"'),
        ("save", 'class="badge saved"'),
    ):
        assert form(client, f"/papers/{PAPER}/library", {"do": do}).status_code == 200
        assert shown in client.get(DAY).text
    form(client, "/library/settings", {})  # both collapses off: the card shows its buttons
    card = _card(client.get(DAY).text, PAPER)
    for undo in ("unsave", "unread", "undismiss"):
        assert f'name="do" value="{undo}"' in card
        form(client, f"/papers/{PAPER}/library", {"do": undo})
    card = _card(client.get(DAY).text, PAPER)
    heading = card.split("</h3>")[0]
    for badge in ('"badge saved"', ">read<", '"badge dismissed"'):
        assert badge not in heading
    for bad in ("", "delete", "save\x00", "x" * 13, "<b>"):
        assert form(client, f"/papers/{PAPER}/library", {"do": bad}).status_code in (400, 422)
    assert form(client, "/papers/2602.99999/library", {"do": "save"}).status_code == 404


def test_marks_show_on_cards_and_dismissed_papers_collapse(
    client: TestClient, demo_settings: Settings
) -> None:
    # Not followed: the redirect goes to the paper page, which would mark it opened.
    form(client, f"/papers/{PAPER}/mark", {"mark": "dismissed", "on": "1"}, follow_redirects=False)
    day = client.get(DAY).text
    assert (_folded(day, PAPER) or "").startswith('<span class="badge dismissed">')
    form(client, "/library/settings", {})  # both collapses off
    day = client.get(DAY).text
    assert _folded(day, PAPER) is None
    assert 'class="badge dismissed"' in _card(day, PAPER)
    form(client, f"/papers/{PAPER}/mark", {"mark": "read", "on": "1"})
    assert 'class="badge seen">read' in _card(client.get(DAY).text, PAPER)
    with db_session(demo_settings) as session:
        mark = session.scalars(select(PaperMark)).one()
        assert mark.read_at is not None
        assert mark.dismissed_at is not None
    assert form(client, f"/papers/{PAPER}/mark", {"mark": "bogus"}).status_code == 400


def test_collapse_seen_folds_opened_papers_and_saved_ones_once_read(client: TestClient) -> None:
    """A saved paper only opened stays open (kept to be read); marked read, it folds."""
    day = client.get(DAY).text
    other = re.findall(r'<article class="card" data-paper-id="([0-9.]+)"', day)[1]
    form(client, "/library/settings", {"collapse_seen": "1"})
    form(client, f"/papers/{PAPER}/save", {"action": "save"})
    for arxiv_id in (PAPER, other):
        assert client.get(f"/papers/{arxiv_id}").status_code == 200  # opened: seen
    day = client.get(DAY).text
    assert (_folded(day, other) or "").startswith('<span class="badge seen">seen</span>')
    assert _folded(day, PAPER) is None
    form(client, f"/papers/{PAPER}/mark", {"mark": "read", "on": "1"}, follow_redirects=False)
    assert (_folded(client.get(DAY).text, PAPER) or "").startswith(
        '<span class="badge saved">saved</span> <span class="badge seen">read</span>'
    )
    form(client, "/library/settings", {"collapse_dismissed": "1"})  # seen papers unfolded
    assert '<details class="collapsed-card"' not in client.get(DAY).text


def test_search_results_and_the_web_digest_show_the_readers_marks(
    client: TestClient, demo_settings: Settings
) -> None:
    with db_session(demo_settings) as session:
        title = session.scalars(select(Paper.title).where(Paper.arxiv_id == PAPER)).one()
    form(client, f"/papers/{PAPER}/save", {"action": "save"})
    pages = ("/digests/daily/2026-02-10", f"/search?q={quote(title)}")
    for path in pages:
        assert 'class="badge saved"' in _card(client.get(path).text, PAPER), path
    client.cookies.clear()
    for path in pages:
        assert 'class="badge saved"' not in client.get(path).text, path


def test_opening_a_paper_marks_it_seen(client: TestClient, demo_settings: Settings) -> None:
    assert 'class="badge seen"' not in _card(client.get(DAY).text, PAPER)
    assert client.get(f"/papers/{PAPER}").status_code == 200
    assert 'class="badge seen">seen' in _card(client.get(DAY).text, PAPER)
    pdf = client.get("/papers/2602.08000/pdf", follow_redirects=False)
    assert pdf.status_code in (303, 404)
    other = client.get(DAY).text
    second = re.findall(r'data-paper-id="([0-9.]+)"', other)[1]
    cross_site = client.get(
        f"/papers/{second}/pdf", headers={"sec-fetch-site": "cross-site"}, follow_redirects=False
    )
    assert cross_site.status_code == 303
    assert cross_site.headers["location"].startswith("https://arxiv.org/pdf/")
    assert 'class="badge seen"' not in _card(client.get(DAY).text, second)
    client.get(f"/papers/{second}/pdf", follow_redirects=False)
    assert 'class="badge seen">seen' in _card(client.get(DAY).text, second)


def test_a_note_is_private_sanitized_and_saves_the_paper(
    demo_settings: Settings, client: TestClient
) -> None:
    form(client, f"/papers/{PAPER}/note", {"body": "<img src=x onerror=alert(1)> **mine**"})
    page = client.get(f"/papers/{PAPER}").text
    assert "<strong>mine</strong>" in page
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    make_user(demo_settings, "bob")
    with TestClient(create_app(demo_settings)) as other:
        sign_in(other, "bob")
        assert "<strong>mine</strong>" not in other.get(f"/papers/{PAPER}").text
    with db_session(demo_settings) as session:
        assert session.scalars(select(Save)).one()


def test_long_text_is_stopped_in_the_browser_before_it_is_lost(client: TestClient) -> None:
    """A note or description over the limit came back as an error page and the text was gone:
    the fields carry the limits, so a browser stops at them (no JavaScript needed)."""
    note_box = client.get(f"/papers/{PAPER}").text
    assert re.search(rf'<textarea name="body"[^>]* maxlength="{saves.MAX_NOTE_CHARS}"', note_box)
    made = form(client, "/collections", {"name": "Shelf"}, follow_redirects=False)
    edit = client.get(made.headers["location"]).text
    limit = collections.MAX_DESCRIPTION_CHARS
    assert re.search(rf'<textarea id="collection-description"[^>]* maxlength="{limit}"', edit)


def test_an_import_waiting_for_arxiv_says_how_many_papers_it_waits_for(
    client: TestClient,
) -> None:
    """It said "Fetching papers from arXiv: 2 of 2 done" while one was still to come."""
    posted = form(
        client, "/library/import", {"text": f"{PAPER}\n2606.99999"}, follow_redirects=False
    )
    assert posted.status_code == 303
    page = client.get(posted.headers["location"]).text
    assert 'http-equiv="refresh"' in page
    assert "Waiting for arXiv: 1 of 2 entries still to fetch" in page
    assert "2 of 2 done" not in page


def test_a_large_import_in_progress_reloads_without_its_table(client: TestClient) -> None:
    """The page reloads every few seconds: with a row per entry it was megabytes each time."""
    ids = "\n".join(f"2606.{n:05d}" for n in range(1, 602))
    posted = form(client, "/library/import", {"text": ids}, follow_redirects=False)
    page = client.get(posted.headers["location"]).text
    assert 'http-equiv="refresh"' in page
    assert "Matching entries: 0 of 601 done" in page
    assert '<table class="outcomes">' not in page
    assert len(page) < 20_000


def test_collections_are_private_until_made_public(
    demo_settings: Settings, client: TestClient
) -> None:
    made = form(client, "/collections", {"name": "Agents <b>"}, follow_redirects=False)
    assert made.status_code == 303
    path = made.headers["location"]
    form(client, f"/papers/{PAPER}/collections", {"collection_id": path.rsplit("/", 1)[1]})
    mine = client.get(path).text
    assert "Agents &lt;b&gt;" in mine
    assert f'data-paper-id="{PAPER}"' in mine
    with TestClient(create_app(demo_settings)) as anonymous:
        assert anonymous.get(path).status_code == 404
        assert anonymous.get(f"{path}/feed.atom").status_code == 404
        make_user(demo_settings, "eve")
        sign_in(anonymous, "eve")
        assert anonymous.get(path).status_code == 404
        assert form(anonymous, f"{path}/delete", {}).status_code == 404
        assert form(anonymous, f"{path}/edit", {"name": "mine now"}).status_code == 404
        assert anonymous.get(f"/library?collection={path.rsplit('/', 1)[1]}").status_code == 404
    form(client, f"{path}/edit", {"name": "Agents", "public": "1"})
    with TestClient(create_app(demo_settings)) as anonymous:
        page = anonymous.get(path)
        assert page.status_code == 200
        assert f'data-paper-id="{PAPER}"' in page.text
        atom = anonymous.get(f"{path}/feed.atom")
        assert atom.headers["content-type"].startswith("application/atom+xml")
        assert f"/papers/{PAPER}" in atom.text
        feed = anonymous.get(f"{path}/feed.json").json()
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert feed["items"][0]["id"].endswith(f"/papers/{PAPER}")
    assert form(client, "/collections", {"name": "agents"}).status_code == 400
    form(client, f"{path}/delete", {})
    with db_session(demo_settings) as session:
        assert session.scalars(select(Collection)).all() == []
        assert len(session.scalars(select(Save)).all()) == 1


def test_new_since_your_last_visit(demo_settings: Settings, client: TestClient) -> None:
    with db_session(demo_settings) as session:
        user = session.scalars(select(User).where(User.username == "ada")).one()
        user.last_active_at = dt.datetime(2026, 2, 10, 12, tzinfo=dt.UTC)
        user.previous_visit_at = None
        session.commit()
    day = client.get(DAY).text  # a new visit: the last one ended at noon on the 10th
    assert "new since your last visit (Feb 10, 12:00 UTC)" in day
    count = int(re.search(r"(\d+) new since your last visit", day)[1])  # type: ignore[index]
    assert day.count('class="badge new"') == count


def test_library_search_and_sort(client: TestClient) -> None:
    day = client.get(DAY).text
    ids = re.findall(r'<article class="card" data-paper-id="([0-9.]+)"', day)[:5]
    for arxiv_id in ids:
        form(client, f"/papers/{arxiv_id}/save", {})
    page = client.get("/library?sort=upvotes")
    assert re.findall(r'data-paper-id="([0-9.]+)"', page.text) == ids  # the day is by upvotes
    bad = client.get("/library?q=from:banana")
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    assert client.get("/library?sort=nonsense").status_code == 400


def test_library_pages_keep_the_sort_and_search_in_their_links(
    client: TestClient, demo_settings: Settings
) -> None:
    with db_session(demo_settings) as session:
        user = session.scalars(select(User).where(User.username == "ada")).one()
        papers = session.scalars(select(Paper.id).order_by(Paper.id).limit(53)).all()
        saves.save_many(session, user, list(papers), dt.datetime.now(dt.UTC))
        session.commit()
    first = client.get("/library?sort=published").text
    assert len(re.findall(r'<article class="card', first)) == 50
    link = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert link, "no next page link"
    assert link[1] == "/library?sort=published&amp;page=2"
    second = client.get(html.unescape(link[1])).text
    assert len(re.findall(r'<article class="card', second)) == 3
    assert '<a rel="prev" href="/library?sort=published&amp;page=1"' in second
    assert 'rel="next"' not in second
    # The filter form's "All saved papers" option sends an empty collection.
    assert client.get("/library?q=&sort=saved&collection=").status_code == 200
    assert client.get("/library/export?collection=").status_code == 200


def test_signed_out_readers_see_no_library_forms(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as anonymous:
        day = anonymous.get(DAY).text
        assert "/save" not in day
        assert anonymous.get("/library", follow_redirects=False).status_code in (303, 401)
        assert anonymous.post(f"/papers/{PAPER}/save").status_code == 403


def test_list_pages_keep_their_statement_count_whatever_the_library_size(
    demo_settings: Settings, client: TestClient
) -> None:
    client.get(DAY)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with QueryCounter(engine) as few:
        client.get(DAY)
    day = client.get(DAY).text
    for arxiv_id in re.findall(r'<article class="card" data-paper-id="([0-9.]+)"', day)[:20]:
        form(client, f"/papers/{arxiv_id}/save", {})
        form(client, f"/papers/{arxiv_id}/mark", {"mark": "read", "on": "1"})
    with QueryCounter(engine) as many:
        client.get(DAY)
    assert many.count == few.count
    with QueryCounter(engine) as library_20:
        client.get("/library")
    for arxiv_id in re.findall(r'<article class="card" data-paper-id="([0-9.]+)"', day)[20:40]:
        form(client, f"/papers/{arxiv_id}/save", {})
    with QueryCounter(engine) as library_40:
        client.get("/library")
    assert library_40.count == library_20.count


def test_a_refused_form_says_what_happened_and_how_to_get_back(client: TestClient) -> None:
    refused = form(
        client, "/collections", {"name": " "}, headers={"referer": "http://testserver/library"}
    )
    assert refused.status_code == 400
    assert "<h1>That could not be done</h1>" in refused.text
    assert "Back button" in refused.text
    missing = client.get("/collections/999999")
    assert "<h1>Not found</h1>" in missing.text
    assert "Back button" not in missing.text
