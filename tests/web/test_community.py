"""Votes, comments, submissions and moderation through the pages and the API."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.config import Settings
from dailypapers.models import DailyEntry, ModerationAction, Paper
from dailypapers.ranking import trending_score
from dailypapers.web.app import create_app
from tests.factories import add_daily_paper, api_token, make_user
from tests.support.database import db_session, make_settings
from tests.support.fake_remotes import FakeRemote
from tests.support.live_server import LiveServer
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.both_backends


PAPER = "2602.08222"  # the top paper of 2026-02-10 in the demo month


@pytest.fixture
def client(demo_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(demo_settings)) as client:
        yield client


def _paper(settings: Settings, arxiv_id: str = PAPER) -> Paper:
    with db_session(settings) as session:
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == arxiv_id)).one()
        session.expunge(paper)
    return paper


def test_fifty_concurrent_voters_and_togglers_leave_the_exact_count(
    demo_settings: Settings,
) -> None:
    tokens = [
        api_token(demo_settings, make_user(demo_settings, f"voter{i:02d}")) for i in range(50)
    ]
    before = _paper(demo_settings)
    start = threading.Barrier(50)
    errors: list[str] = []

    def voter(token: str, index: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            start.wait()
            # Everyone votes; every other voter also takes it back and votes again, twice.
            steps = ["post"] + (["delete", "post", "post", "delete", "post"] if index % 2 else [])
            for step in steps:
                response = http.request(step.upper(), f"/api/papers/{PAPER}/upvote")
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text}")

    with LiveServer(demo_settings) as server:
        threads = [threading.Thread(target=voter, args=(t, i)) for i, t in enumerate(tokens)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    after = _paper(demo_settings)
    assert after.local_upvotes == 50
    assert after.upvotes == before.upvotes + 50
    assert after.trending_score is not None
    assert before.trending_score is not None
    assert after.trending_score > before.trending_score
    with db_session(demo_settings) as session:
        submitted_at = session.scalar(
            select(DailyEntry.submitted_at).where(DailyEntry.paper_id == after.id)
        )
    assert submitted_at is not None
    expected = trending_score(after.upvotes, submitted_at, demo_settings.trending_window_hours)
    assert after.trending_score == pytest.approx(expected, abs=1e-9)  # SQL and Python agree


def test_a_vote_from_the_page_toggles_and_shows_everywhere(
    client: TestClient, demo_settings: Settings
) -> None:
    make_user(demo_settings, "ada")
    sign_in(client, "ada")
    before = _paper(demo_settings).upvotes
    form(client, f"/papers/{PAPER}/upvote", {"action": "up"})
    form(client, f"/papers/{PAPER}/upvote", {"action": "up"})  # twice counts once
    assert _paper(demo_settings).upvotes == before + 1
    page = client.get(f"/papers/{PAPER}")
    assert "Upvoted" in page.text
    day = client.get("/papers/date/2026-02-10")
    assert 'aria-pressed="true"' in day.text
    assert f'<span class="count">{before + 1}</span>' in day.text
    api = client.get("/api/daily_papers?date=2026-02-10").json()
    assert api[0]["paper"]["upvotes"] == before + 1
    form(client, f"/papers/{PAPER}/upvote", {"action": "down"})
    assert _paper(demo_settings).upvotes == before


def test_threaded_comments_render_markdown_and_count_in_the_api(
    client: TestClient, demo_settings: Settings
) -> None:
    make_user(demo_settings, "ada")
    sign_in(client, "ada")
    first = form(
        client, f"/papers/{PAPER}/comments", {"body": "**Bold** claim"}, follow_redirects=False
    )
    assert first.status_code == 303
    comment_id = int(first.headers["location"].rsplit("-", 1)[1])
    form(client, f"/papers/{PAPER}/comments", {"body": "A reply", "parent_id": comment_id})
    page = client.get(f"/papers/{PAPER}").text
    assert "<strong>Bold</strong> claim" in page
    assert page.index("Bold") < page.index("A reply")
    assert 'class="comment depth-1"' in page  # the reply sits under its parent (style.css)
    item = next(
        i
        for i in client.get("/api/daily_papers?date=2026-02-10").json()
        if i["paper"]["id"] == PAPER
    )
    assert item["numComments"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
    ],
)
def test_xss_in_comments_is_inert(
    client: TestClient, demo_settings: Settings, payload: str
) -> None:
    make_user(demo_settings, "ada")
    sign_in(client, "ada")
    form(client, f"/papers/{PAPER}/comments", {"body": payload})
    page = client.get(f"/papers/{PAPER}").text
    body = page[page.index('class="comment-body"') :]
    body = body[: body.index("</div>")]
    # Text may mention anything; no element or attribute may carry it.
    for dangerous in ("<script", "<img", "<iframe", '<a href="javascript'):
        assert dangerous not in body.lower()


def test_xss_in_titles_and_names_is_inert(client: TestClient, demo_settings: Settings) -> None:
    add_daily_paper(
        demo_settings,
        arxiv_id="2602.99990",
        title="<script>alert('title')</script> A title",
        authors=("<img src=x onerror=alert('author')>",),
    )
    make_user(demo_settings, "mallory", fullname="<b onmouseover=alert(1)>Mallory</b>")
    sign_in(client, "mallory")
    form(client, "/papers/2602.99990/comments", {"body": "hello"})
    for path in ("/papers/2602.99990", "/papers/date/2026-02-27", "/feeds/day/2026-02-27.atom"):
        text = client.get(path).text
        assert "<script>alert" not in text, path
        assert "<img src=x" not in text, path
        assert "<b onmouseover" not in text, path


def test_no_one_edits_or_deletes_anothers_comment(
    client: TestClient, demo_settings: Settings
) -> None:
    make_user(demo_settings, "ada")
    make_user(demo_settings, "eve")
    sign_in(client, "ada")
    created = form(client, f"/papers/{PAPER}/comments", {"body": "mine"}, follow_redirects=False)
    comment_id = int(created.headers["location"].rsplit("-", 1)[1])
    assert form(client, f"/comments/{comment_id}/edit", {"body": "mine, edited"}).status_code == 200
    with TestClient(create_app(demo_settings)) as eve:
        sign_in(eve, "eve")
        assert form(eve, f"/comments/{comment_id}/edit", {"body": "hacked"}).status_code == 403
        assert form(eve, f"/comments/{comment_id}/delete").status_code == 403
    page = client.get(f"/papers/{PAPER}").text
    assert "mine, edited" in page
    assert "hacked" not in page
    form(client, f"/comments/{comment_id}/delete")
    assert "[deleted]" in client.get(f"/papers/{PAPER}").text


def test_a_refused_comment_keeps_the_text(client: TestClient, demo_settings: Settings) -> None:
    make_user(demo_settings, "ada")
    sign_in(client, "ada")
    long_text = "word " * 2500
    response = form(client, f"/papers/{PAPER}/comments", {"body": long_text})
    assert response.status_code == 400
    assert "Keep comments under 10,000 characters." in response.text
    assert long_text.strip() in response.text
    assert form(client, f"/papers/{PAPER}/comments", {"body": "   "}).status_code == 400


def test_a_banned_user_cannot_post_or_vote(client: TestClient, demo_settings: Settings) -> None:
    make_user(demo_settings, "troll", banned_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    sign_in(client, "troll")
    assert client.get(f"/papers/{PAPER}").status_code == 200  # can still read
    assert form(client, f"/papers/{PAPER}/comments", {"body": "spam"}).status_code == 403
    assert form(client, f"/papers/{PAPER}/upvote", {"action": "up"}).status_code == 403


def _hide(moderator: TestClient, what: str, target_id: int) -> None:
    response = form(
        moderator,
        f"/moderation/hide_{what}/{target_id}",
        {"reason": "spam"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_a_hidden_paper_leaves_every_surface(client: TestClient, demo_settings: Settings) -> None:
    make_user(demo_settings, "mod", role="moderator")
    sign_in(client, "mod")
    paper = _paper(demo_settings)
    _hide(client, "paper", paper.id)
    with TestClient(create_app(demo_settings)) as anyone:
        assert PAPER not in anyone.get("/papers/date/2026-02-10").text
        assert PAPER not in anyone.get("/papers/week/2026-W07").text
        assert PAPER not in anyone.get("/papers/trending").text
        assert anyone.get(f"/papers/{PAPER}").status_code == 404
        assert anyone.get(f"/api/papers/{PAPER}").status_code == 404
        ids = [i["paper"]["id"] for i in anyone.get("/api/daily_papers?date=2026-02-10").json()]
        assert PAPER not in ids
        assert PAPER not in anyone.get("/feeds/day/2026-02-10.atom").text
        assert PAPER not in anyone.get("/digests/daily/2026-02-10").text
    assert "Show this paper" in client.get(f"/papers/{PAPER}").text  # moderators still see it
    form(client, f"/moderation/show_paper/{paper.id}", {"reason": "appeal granted"})
    assert PAPER in TestClient(create_app(demo_settings)).get("/papers/date/2026-02-10").text
    log = client.get("/moderation")
    assert "hide_paper" in log.text
    assert "appeal granted" in log.text
    assert "spam" in log.text


def test_a_hidden_comment_and_the_moderation_log(
    client: TestClient, demo_settings: Settings
) -> None:
    make_user(demo_settings, "ada")
    make_user(demo_settings, "mod", role="moderator")
    sign_in(client, "ada")
    created = form(
        client, f"/papers/{PAPER}/comments", {"body": "rude words"}, follow_redirects=False
    )
    comment_id = int(created.headers["location"].rsplit("-", 1)[1])
    assert client.get("/moderation").status_code == 403
    assert (
        form(client, f"/moderation/hide_comment/{comment_id}", {"reason": "x"}).status_code == 403
    )
    with TestClient(create_app(demo_settings)) as mod:
        sign_in(mod, "mod")
        missing_reason = form(mod, f"/moderation/hide_comment/{comment_id}", {"reason": " "})
        assert missing_reason.status_code == 400
        _hide(mod, "comment", comment_id)
        assert "rude words" in mod.get(f"/papers/{PAPER}").text  # moderators still see it
    assert "rude words" not in client.get(f"/papers/{PAPER}").text
    item = next(
        i
        for i in client.get("/api/daily_papers?date=2026-02-10").json()
        if i["paper"]["id"] == PAPER
    )
    assert item["numComments"] == 0
    with db_session(demo_settings) as session:
        entry = session.scalars(select(ModerationAction)).one()
        assert (entry.action, entry.target_id, entry.reason) == ("hide_comment", comment_id, "spam")


def test_a_moderator_bans_a_user(client: TestClient, demo_settings: Settings) -> None:
    troll = make_user(demo_settings, "troll")
    make_user(demo_settings, "mod", role="moderator")
    sign_in(client, "mod")
    _hide_ban = form(
        client, f"/moderation/ban_user/{troll}", {"reason": "spam"}, follow_redirects=False
    )
    assert _hide_ban.status_code == 303
    with TestClient(create_app(demo_settings)) as troll_client:
        sign_in(troll_client, "troll")
        assert form(troll_client, f"/papers/{PAPER}/comments", {"body": "x"}).status_code == 403


@pytest.fixture
def remote_settings(demo_settings: Settings) -> Iterator[Settings]:
    with FakeRemote() as remote:
        yield make_settings(
            demo_settings.data_dir,
            database_url=demo_settings.database_url,
            arxiv_api_url=f"{remote.url}/api/query",
            arxiv_delay_seconds=0,
            submit_max_age_days=3650,
        )


@pytest.mark.parametrize(
    "given",
    [
        "2606.22527",
        "https://arxiv.org/abs/2606.22527v2",
        "arxiv.org/pdf/2606.22527v1",
        "arXiv:2606.22527",
    ],
)
def test_submit_by_id_or_url_fetches_unknown_papers(remote_settings: Settings, given: str) -> None:
    make_user(remote_settings, "ada")
    with TestClient(create_app(remote_settings)) as client:
        sign_in(client, "ada")
        response = form(
            client,
            "/papers/submit",
            {"paper": given, "comment": "Worth a read."},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/papers/2606.22527"
        page = client.get("/papers/2606.22527").text
        assert "Worth a read." in page
        duplicate = form(client, "/papers/submit", {"paper": given})
        assert duplicate.status_code == 400
        assert "already on the list" in duplicate.text
        assert 'href="/papers/2606.22527"' in duplicate.text
    with db_session(remote_settings) as session:
        entry = session.scalars(
            select(DailyEntry).join(DailyEntry.paper).where(Paper.arxiv_id == "2606.22527")
        ).one()
        # The list's day (TODAY is fixed in the test settings), not the clock's.
        assert remote_settings.today is not None
        assert entry.feed_date == remote_settings.today


def test_submission_rules(remote_settings: Settings) -> None:
    strict = make_settings(
        remote_settings.data_dir,
        database_url=remote_settings.database_url,
        arxiv_api_url=remote_settings.arxiv_api_url,
        arxiv_delay_seconds=0,
        submit_daily_cap=1,
    )
    make_user(strict, "ada")
    with TestClient(create_app(strict)) as client:
        sign_in(client, "ada")
        bad = form(client, "/papers/submit", {"paper": "not a paper", "comment": "kept"})
        assert bad.status_code == 400
        assert "kept" in bad.text
        old = form(client, "/papers/submit", {"paper": "2606.17255"})
        assert old.status_code == 400
        assert "only papers from the last 7 days" in old.text
        foreign_org = form(
            client, "/papers/submit", {"paper": "2606.17255", "organization": "acme"}
        )
        assert "not a member of an organization named" in foreign_org.text
    with TestClient(create_app(remote_settings)) as client:
        sign_in(client, "ada")
        assert form(client, "/papers/submit", {"paper": "2606.22527"}).status_code in (200, 303)
        capped_settings = make_settings(
            remote_settings.data_dir,
            database_url=remote_settings.database_url,
            arxiv_api_url=remote_settings.arxiv_api_url,
            arxiv_delay_seconds=0,
            submit_max_age_days=3650,
            submit_daily_cap=1,
        )
    with TestClient(create_app(capped_settings)) as client:
        sign_in(client, "ada")
        capped = form(client, "/papers/submit", {"paper": "2606.22568"})
        assert capped.status_code == 400
        assert "the daily limit" in capped.text


def test_api_submit_in_the_hf_shape(remote_settings: Settings) -> None:
    token = api_token(remote_settings, make_user(remote_settings, "ada"))
    with TestClient(create_app(remote_settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        created = client.post(
            "/api/papers/submit", json={"paper_id": "2606.22527"}, headers=headers
        )
        assert created.status_code == 200, created.text
        assert created.json()["paper"]["id"] == "2606.22527"
        assert created.json()["submittedBy"]["user"] == "ada"
        again = client.post("/api/papers/submit", json={"paper_id": "2606.22527"}, headers=headers)
        assert again.status_code == 409
        assert "already on the list" in again.json()["error"]
        bad = client.post("/api/papers/submit", json={"paper_id": "1234"}, headers=headers)
        assert bad.status_code == 400
        assert client.post("/api/papers/submit", json={"paper_id": "2606.22527"}).status_code == 401


@pytest.mark.parametrize(
    ("kind", "path", "data"),
    [
        ("vote", f"/papers/{PAPER}/upvote", {"action": "up"}),
        ("comment", f"/papers/{PAPER}/comments", {"body": "hi"}),
        ("submit", "/papers/submit", {"paper": PAPER}),
    ],
)
def test_each_action_is_rate_limited_per_account(
    demo_settings: Settings, kind: str, path: str, data: dict[str, str]
) -> None:
    settings = make_settings(
        demo_settings.data_dir,
        database_url=demo_settings.database_url,
        **{f"limit_{kind}_per_account": "2/hour"},
    )
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        sign_in(client, "ada")
        for _ in range(2):
            assert form(client, path, data).status_code != 429
        limited = form(client, path, data)
        assert limited.status_code == 429
        assert "at most 2 per hour" in limited.text


def test_per_ip_limits_count_every_account(demo_settings: Settings) -> None:
    settings = make_settings(
        demo_settings.data_dir, database_url=demo_settings.database_url, limit_vote_per_ip="3/hour"
    )
    tokens = [api_token(settings, make_user(settings, f"user{i}")) for i in range(4)]
    with TestClient(create_app(settings)) as client:
        codes = [
            client.post(
                f"/api/papers/{PAPER}/upvote", headers={"Authorization": f"Bearer {t}"}
            ).status_code
            for t in tokens
        ]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("kind", "path", "data"),
    [
        ("comment", f"/papers/{PAPER}/comments", {"body": "hi"}),
        ("submit", "/papers/submit", {"paper": PAPER}),
    ],
)
def test_each_action_is_rate_limited_per_client_address(
    demo_settings: Settings, kind: str, path: str, data: dict[str, str]
) -> None:
    settings = make_settings(
        demo_settings.data_dir,
        database_url=demo_settings.database_url,
        **{f"limit_{kind}_per_ip": "2/hour"},
    )
    for name in ("ada", "bob", "cyd"):
        make_user(settings, name)
    codes = []
    for name in ("ada", "bob", "cyd"):  # three accounts, one address
        with TestClient(create_app(settings)) as client:
            sign_in(client, name)
            codes.append(form(client, path, data).status_code)
    assert codes[:2] != [429, 429]
    assert codes[2] == 429
