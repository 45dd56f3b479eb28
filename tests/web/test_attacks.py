"""Issue #15, second attacker review: each test failed on the code before its fix."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

import dailypapers
from dailypapers import community, orgs
from dailypapers.config import Settings
from dailypapers.models import ApiToken, Paper, User
from dailypapers.web.app import create_app
from tests.factories import PASSWORD, add_subscription, api_token, make_user
from tests.support import free_port
from tests.support.database import db_session, make_settings
from tests.support.live_server import wait_until_healthy
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


# Hostile bodies ------------------------------------------------------------------------------

NESTED = b"[" * 100_000  # 100 KB


@pytest.mark.parametrize("path", [f"/api/papers/{PAPER}/upvote", "/api/papers/submit"])
def test_json_nested_past_the_parser_limit_is_a_400(demo_settings: Settings, path: str) -> None:
    """Before: RecursionError in the NUL check's JSON parse, a plain-text 500."""
    token = api_token(demo_settings, make_user(demo_settings, "ada"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with TestClient(create_app(demo_settings), raise_server_exceptions=False) as client:
        response = client.post(path, content=NESTED, headers=headers)
    assert response.status_code in (200, 400), response.text  # upvote reads no body
    assert response.headers["content-type"] == "application/json"


def _chunks(size: int) -> Iterator[bytes]:
    """A body without Content-Length (sent chunked), as a client that hides its size."""
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        yield chunk


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/signin", "application/x-www-form-urlencoded"),
        (f"/papers/{PAPER}/comments", "application/x-www-form-urlencoded"),
        ("/signup", "multipart/form-data; boundary=x"),
        ("/api/papers/submit", "application/json"),
    ],
)
def test_a_body_past_the_limit_is_refused_before_it_is_read(
    demo_settings: Settings, path: str, content_type: str, declared: bool
) -> None:
    """Before: a 50 MB form or a 10 MB JSON body was read whole into memory (50 fields of
    1000 KB each passed Starlette's 1 MB field limit; RSS grew by 50 MB per request)."""
    size = 3 * 2**20
    body: bytes | Iterator[bytes] = b"login=" + b"x" * size if declared else _chunks(size)
    with TestClient(create_app(demo_settings)) as client:
        response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 413
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_server_error_is_a_page_with_the_security_headers(demo_settings: Settings) -> None:
    """Before: a plain-text "Internal Server Error" without CSP, nosniff or frame-ancestors
    (Starlette sends a 500 from outside every middleware)."""
    app = create_app(demo_settings)

    def fail() -> None:
        raise RuntimeError("a bug with a secret in its message")

    app.add_api_route("/api/fail", fail)
    app.add_api_route("/fail", fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        api, page = client.get("/api/fail"), client.get("/fail")
    assert api.status_code == page.status_code == 500
    assert "error" in api.json()
    assert "<html" in page.text
    for answer in (api, page):
        assert "secret" not in answer.text
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"


# Secrets in the log --------------------------------------------------------------------------


def test_link_tokens_stay_out_of_the_access_log(tmp_path: Path) -> None:
    """Before: ``GET /unsubscribe/<token>`` (and reset, confirm links) in the log, whole."""
    port = free_port()
    root = Path(dailypapers.__file__).parents[1]  # this checkout, not another installed one
    env = {**os.environ, "DAILYPAPERS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    executable = shutil.which("dailypapers", path=str(Path(sys.executable).parent))
    assert executable is not None
    secret = "Zq7-secret-token-of-a-link"
    paths = [
        f"/unsubscribe/{secret}",
        f"/subscriptions/{secret}?updated=1",
        f"/account/reset/{secret}",
        f"/account/verify/{secret}",
        f"/account/email/{secret}",
        f"/subscribe/confirm/{secret}",
    ]
    with subprocess.Popen(
        [executable, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as server:
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process=server)
            for path in paths:
                httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
    log = output.decode(errors="replace")
    assert "GET /unsubscribe/[secret] HTTP/1.1" in log
    assert "GET /subscriptions/[secret]?updated=1 HTTP/1.1" in log
    assert secret not in log
