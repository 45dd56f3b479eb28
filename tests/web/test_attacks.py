"""Issue #15, second attacker review: each test failed on the code before its fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers import community, orgs
from dailypapers.config import Settings
from dailypapers.models import ApiToken, Paper, User
from dailypapers.web.app import create_app
from tests.factories import PASSWORD, add_subscription, api_token, make_user
from tests.support.database import db_session, make_settings
from tests.support.web_client import form, sign_in

PAPER = "2602.08222"  # on the demo month's list
NOW = dt.datetime(2026, 2, 20, tzinfo=dt.UTC)

# State-changing routes that need no limit, and why (every other one declares and sends 429).
UNLIMITED = {
    "/signout": "ends the caller's own session only",
    "/account/reset/{token}": "needs a signed reset link; a wrong one is refused before any work",
    "/subscribe/confirm/{token}": "needs a signed link; idempotent",
    # RFC 8058 one-click unsubscribes come from the mail providers' few addresses: a per-IP
    # limit would stop people leaving; the secret token is the guard.
    "/unsubscribe/{token}": "must always work; secret token",
}


def _write_routes(settings: Settings) -> list[tuple[str, str, APIRoute]]:
    app = create_app(settings)
    found = []
    for route in app.routes:
        for inner in getattr(getattr(route, "original_router", None), "routes", [route]):
            if isinstance(inner, APIRoute):
                for method in sorted(inner.methods & {"POST", "PUT", "PATCH", "DELETE"}):
                    found.append((method, inner.path, inner))
    return found


def test_every_state_changing_route_declares_its_429(tmp_path: Path) -> None:
    """The inventory of the review: a new write route must be limited or listed above."""
    missing = [
        f"{method} {path}"
        for method, path, route in _write_routes(make_settings(tmp_path))
        if path not in UNLIMITED and 429 not in route.responses
    ]
    assert missing == []


@pytest.fixture
def limited(demo_settings: Settings) -> Settings:
    settings = make_settings(
        demo_settings.data_dir,
        database_url=demo_settings.database_url,
        limit_write_per_account="2/hour",
        limit_write_per_ip="1000/hour",
        limit_signin_per_account="3/hour",  # the sign-in, two guesses
    )
    make_user(settings, "ada", role="moderator")
    make_user(settings, "bob")
    return settings


def _targets(settings: Settings) -> list[dict[str, str]]:
    """For each of three requests, a comment, an org, a token and a subscription of ada's,
    made without the web (a refused request is not counted, so each needs its own comment)."""
    with db_session(settings) as session:
        ada = session.scalar(select(User).where(User.username == "ada"))
        assert ada is not None
    for _ in range(3):
        api_token(settings, ada.id)
    with db_session(settings) as session:
        ada = session.get(User, ada.id)
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == PAPER))
        assert ada is not None
        assert paper is not None
        comments = [community.add_comment(session, ada, paper, "a", now=NOW) for _ in range(3)]
        orgs.create_org(session, ada, "lab", "The Lab", NOW)
        tokens = session.scalars(select(ApiToken.id).where(ApiToken.user_id == ada.id)).all()
        subscription = add_subscription(session, "ada@example.org")
        session.commit()
        return [
            {
                "comment": str(comment.id),
                "token": str(token),
                "subscription": subscription.unsubscribe_token,
            }
            for comment, token in zip(comments, tokens, strict=True)
        ]


WRITES = [
    ("/comments/{comment}/edit", {"body": "edited"}),
    ("/comments/{comment}/delete", {}),
    ("/orgs", {"name": "lab-{i}", "fullname": "A lab"}),
    ("/orgs/lab/invite", {"username": "bob"}),
    ("/account/tokens", {"name": "t{i}"}),
    ("/account/tokens/{token}/revoke", {}),
    ("/moderation/hide_comment/{comment}", {"reason": "spam"}),
    ("/subscriptions/{subscription}", {"cadence": "weekly"}),
    ("/account/password", {"current": "not the password", "new": "a new long password"}),
    ("/account/delete", {"password": "not the password"}),
]


@pytest.mark.parametrize(("path", "data"), WRITES, ids=[path for path, _ in WRITES])
def test_writes_of_a_signed_in_account_are_rate_limited(
    limited: Settings, path: str, data: dict[str, str]
) -> None:
    """Before: 60 tokens, 100 edits, 40 orgs, invitations and moderation actions in a row,
    and 40 password guesses through the password-change and delete forms, all answered."""
    targets = _targets(limited)
    if path.startswith("/subscriptions/"):
        limited = make_settings(
            limited.data_dir, database_url=limited.database_url, limit_write_per_ip="2/hour"
        )
    with TestClient(create_app(limited)) as client:
        sign_in(client, "ada")
        codes = []
        for i in range(3):
            fields = {key: value.format(i=i) for key, value in data.items()}
            response = form(client, path.format(**targets[i]), fields, follow_redirects=False)
            codes.append(response.status_code)
        assert 429 not in codes[:2], codes
        assert codes[2] == 429, codes
        assert int(response.headers["retry-after"]) > 0
        assert "Too many requests" in response.text
    if path in ("/account/password", "/account/delete"):
        # The same buckets as the sign-in form: no more guesses there either.
        with TestClient(create_app(limited)) as other:
            page = form(other, "/signin", {"login": "ada", "password": PASSWORD})
            assert page.status_code == 429
