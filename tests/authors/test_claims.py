"""Authorship claims through the pages: ask, approve or refuse (logged), what the author page,
the user page and the HF API show afterwards; who may decide; CSRF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from dailypapers.config import Settings
from dailypapers.models import AuthorClaim, ModerationAction
from dailypapers.web.app import create_app
from tests.factories import add_daily_paper, make_user
from tests.support.database import db_session
from tests.support.web_client import csrf_token, form, sign_in

pytestmark = pytest.mark.both_backends

AUTHOR = "/authors/ada-lovelace"


@pytest.fixture
def site(settings: Settings, engine: Engine) -> Settings:
    add_daily_paper(settings, arxiv_id="2602.00001", authors=("Ada Lovelace", "C. Babbage"))
    make_user(settings, "ada")
    make_user(settings, "eve")
    make_user(settings, "mod", role="moderator")
    return settings


@pytest.fixture
def app_client(site: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(site)) as client:
        yield client


def _client(site: Settings, login: str) -> TestClient:
    client = TestClient(create_app(site))
    sign_in(client, login)
    return client


def _claims(site: Settings) -> list[AuthorClaim]:
    with db_session(site) as session:
        return list(session.scalars(select(AuthorClaim).order_by(AuthorClaim.id)))


def _log(site: Settings) -> list[tuple[str, str, int, int | None]]:
    with db_session(site) as session:
        rows = session.execute(
            select(
                ModerationAction.action,
                ModerationAction.target_type,
                ModerationAction.target_id,
                ModerationAction.moderator_id,
            ).order_by(ModerationAction.id)
        )
        return [(a, t, i, m) for a, t, i, m in rows]


def _claim(client: TestClient, message: str = "My ORCID is 0000-0001") -> int:
    response = form(client, f"{AUTHOR}/claim", {"message": message}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return response.status_code


def _decide(client: TestClient, claim_id: int, decision: str, reason: str = "") -> int:
    response = form(
        client,
        f"/moderation/claims/{claim_id}/decide",
        {"decision": decision, "reason": reason},
        follow_redirects=False,
    )
    return response.status_code


def test_claim_approved_shows_on_pages_and_in_the_api(site: Settings) -> None:
    ada, mod = _client(site, "ada"), _client(site, "mod")
    _claim(ada)
    (claim,) = _claims(site)
    assert claim.status == "pending"
    assert claim.name_key == "ada lovelace"
    assert "Your claim of" in ada.get(AUTHOR).text
    assert "<strong>pending</strong>" in ada.get(AUTHOR).text
    moderation = mod.get("/moderation").text
    assert f"/moderation/claims/{claim.id}/decide" in moderation
    assert "My ORCID is 0000-0001" in moderation

    assert _decide(mod, claim.id, "approve", "checked the ORCID") == 303
    (claim,) = _claims(site)
    assert claim.status == "approved"
    assert claim.decided_at is not None
    mod_id = claim.decided_by
    assert _log(site) == [("approve_claim", "author_claim", claim.id, mod_id)]
    page = TestClient(create_app(site)).get(AUTHOR).text
    assert 'claimed by <a class="claimed-by" href="/users/ada">@ada</a>' in page
    assert "Claim authorship" not in page
    assert 'href="/authors/ada-lovelace"' in ada.get("/users/ada").text

    api = ada.get("/api/papers/2602.00001").json()
    by_name = {author["name"]: author for author in api["authors"]}
    assert by_name["Ada Lovelace"]["user"]["user"] == "ada"
    assert set(by_name["Ada Lovelace"]["user"]) >= {"_id", "user", "fullname", "avatarUrl", "type"}
    assert "user" not in by_name["C. Babbage"]
    daily = ada.get("/api/daily_papers?date=2026-02-27").json()
    assert daily[0]["paper"]["authors"][0]["user"]["user"] == "ada"
    assert ada.get("/api/authors/ada-lovelace").json()["user"]["user"] == "ada"
    # The personal lists fill it the same way (they left it out).
    saved = ada.put("/api/me/saves/2602.00001", headers={"X-CSRF-Token": csrf_token(ada)})
    assert saved.status_code == 200
    (item,) = ada.get("/api/me/library").json()["items"]
    library_authors = item["item"]["paper"]["authors"]
    assert library_authors[0]["user"]["user"] == "ada"
    assert library_authors[1].get("user") is None
    # Ada's saved paper is not in her own For you (she has it): Eve's list has it.
    eve = _client(site, "eve")
    ranked = eve.get("/api/me/for-you", params={"date": "2026-02-27"}).json()
    assert ranked["items"][0]["item"]["paper"]["authors"][0]["user"]["user"] == "ada"

    # A second claim on a held author is refused, with the reason on the page.
    refused = form(eve, f"{AUTHOR}/claim", {"message": "me too"}, follow_redirects=False)
    assert refused.status_code == 400
    assert "already claimed by @ada" in refused.text
    assert len(_claims(site)) == 1


def test_claim_refused_is_logged_and_shown_to_the_claimant(site: Settings) -> None:
    eve, mod = _client(site, "eve"), _client(site, "mod")
    _claim(eve, "<b>trust me</b>")
    (claim,) = _claims(site)
    assert "&lt;b&gt;trust me&lt;/b&gt;" in mod.get("/moderation").text
    assert _decide(mod, claim.id, "refuse", "no evidence") == 303
    assert _claims(site)[0].status == "refused"
    assert _log(site)[0][:3] == ("refuse_claim", "author_claim", claim.id)
    assert "<strong>refused</strong>" in eve.get(AUTHOR).text
    assert "no evidence" in mod.get("/moderation").text
    # A decided claim cannot be decided again; nobody holds the author.
    assert _decide(mod, claim.id, "approve") == 400
    assert "claimed by" not in eve.get(AUTHOR).text
    assert "ada-lovelace" not in TestClient(create_app(site)).get("/users/eve").text
    assert "claim refused" in eve.get("/users/eve").text


def test_two_pending_claims_only_one_approved(site: Settings) -> None:
    ada, eve, mod = _client(site, "ada"), _client(site, "eve"), _client(site, "mod")
    _claim(ada)
    _claim(eve)
    first, second = _claims(site)
    assert _decide(mod, first.id, "approve") == 303
    assert _decide(mod, second.id, "approve") == 400
    assert _decide(mod, second.id, "refuse") == 303
    assert [c.status for c in _claims(site)] == ["approved", "refused"]


def test_asking_twice_while_pending_is_refused(site: Settings) -> None:
    ada = _client(site, "ada")
    _claim(ada)
    again = form(ada, f"{AUTHOR}/claim", {"message": ""}, follow_redirects=False)
    assert again.status_code == 400
    assert len(_claims(site)) == 1


def test_only_moderators_decide(site: Settings) -> None:
    ada, eve = _client(site, "ada"), _client(site, "eve")
    _claim(ada)
    (claim,) = _claims(site)
    assert _decide(eve, claim.id, "approve") == 403
    assert _decide(ada, claim.id, "approve") == 403
    anonymous = TestClient(create_app(site))
    response = anonymous.post(f"/moderation/claims/{claim.id}/decide", data={"decision": "approve"})
    assert response.status_code in (401, 403)
    assert _claims(site)[0].status == "pending"
    assert _log(site) == []


def test_claim_needs_csrf_and_a_session(site: Settings, app_client: TestClient) -> None:
    signed_out = form(app_client, f"{AUTHOR}/claim", {"message": "x"}, follow_redirects=False)
    assert signed_out.status_code in (303, 401)
    ada = _client(site, "ada")
    no_token = ada.post(f"{AUTHOR}/claim", data={"message": "x"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert _claims(site) == []


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        (f"{AUTHOR}/claim", {"message": "x" * 2_001}, 400),
        (f"{AUTHOR}/claim", {"message": "nul\x00"}, 400),
        ("/authors/nobody-here/claim", {"message": ""}, 404),
        ("/moderation/claims/99999999999/decide", {"decision": "approve"}, 404),
        ("/moderation/claims/1/decide", {"decision": "<script>"}, 400),
    ],
)
def test_hostile_claim_input(site: Settings, path: str, data: dict[str, str], status: int) -> None:
    client = _client(site, "mod")
    if "moderation/claims/1/" in path:
        _claim(_client(site, "ada"))
    response = form(client, path, data, follow_redirects=False)
    assert response.status_code == status, response.text[:300]
    assert "<script>" not in response.text
    assert all(c.status == "pending" for c in _claims(site))


def test_deleting_the_account_removes_its_claims(site: Settings) -> None:
    from dailypapers import accounts
    from dailypapers.models import User

    _claim(_client(site, "ada"))
    with db_session(site) as session, session.begin():
        user = session.scalars(select(User).where(User.username == "ada")).one()
        accounts.delete_account(session, site, user)
    assert _claims(site) == []
