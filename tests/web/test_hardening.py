"""Issue #15's defects, one regression test each (each failed on the code before its fix)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import accounts
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.run import load_hf_daily
from dailypapers.models import ApiToken, DailyEntry, Job, Paper, User
from dailypapers.signing import Signer
from dailypapers.web.app import create_app
from tests.factories import PASSWORD, api_token, make_user
from tests.support import DATA_DIR, free_port
from tests.support.database import db_session, make_settings
from tests.support.live_server import LiveServer, wait_until_healthy
from tests.support.web_client import form, sign_in

PAPER = "2602.08222"  # on the demo month's list
ARXIV_ENTRY = (DATA_DIR / "arxiv_api/id_list.xml").read_bytes()


class SlowArxiv:
    """arXiv on 127.0.0.1 that waits ``delay`` seconds before each answer (``body``)."""

    def __init__(self, delay: float, body: bytes = ARXIV_ENTRY) -> None:
        answer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                time.sleep(answer.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self.delay, self.body = delay, body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/query"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowArxiv:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _settings(base: Settings, **overrides: object) -> Settings:
    return make_settings(base.data_dir, database_url=base.database_url, **overrides)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# 1. X-Forwarded-For ---------------------------------------------------------------------------


def _signin_attempts(base_url: str, headers: dict[str, str]) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = http.get("/signin").text.split('name="csrf_token" value="')[1].split('"')[0]
        data = {"login": "nobody", "password": "wrong password", "csrf_token": token}
        codes = [http.post("/signin", data=data).status_code for _ in range(3)]
        codes.append(http.post("/signin", data=data, headers=headers).status_code)
    return codes


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path, trusted: bool) -> None:
    """The real ``dailypapers serve``: a client's own X-Forwarded-For must not reset its limit."""
    port = free_port()
    env = {
        **os.environ,
        "DAILYPAPERS_DATA_DIR": str(tmp_path),
        "DAILYPAPERS_LIMIT_SIGNIN_PER_IP": "2/hour",
        "DAILYPAPERS_TRUSTED_PROXIES": '["127.0.0.1"]' if trusted else "[]",
    }
    executable = shutil.which("dailypapers", path=str(Path(sys.executable).parent))
    assert executable is not None
    command = [executable, "serve", "--port", str(port)]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as server:
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process=server)
            forged = {"X-Forwarded-For": "203.0.113.7"}
            codes = _signin_attempts(f"http://127.0.0.1:{port}", forged)
        finally:
            server.terminate()
            server.wait(timeout=30)
    # Behind a trusted proxy the forwarded address is another client with its own count.
    assert codes == [400, 400, 429, 400 if trusted else 429]


# 2, 3, 12. Submissions ------------------------------------------------------------------------


def test_votes_go_on_while_a_submission_waits_for_arxiv(demo_settings: Settings) -> None:
    with SlowArxiv(delay=3) as arxiv:
        settings = _settings(
            demo_settings,
            arxiv_api_url=arxiv.url,
            arxiv_delay_seconds=0,
            submit_max_age_days=3650,
        )
        submitter = api_token(settings, make_user(settings, "ada"))
        voter = api_token(settings, make_user(settings, "grace"))
        finished: dict[str, float] = {}
        with LiveServer(settings) as server:

            def submit() -> None:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    response = http.post(
                        "/api/papers/submit",
                        json={"paper_id": "2606.22527"},
                        headers=_bearer(submitter),
                    )
                    assert response.status_code == 200, response.text
                finished["submit"] = time.monotonic()

            thread = threading.Thread(target=submit)
            thread.start()
            time.sleep(0.5)  # the submission is now waiting for arXiv
            with httpx.Client(base_url=server.url, timeout=60) as http:
                vote = http.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(voter))
            finished["vote"] = time.monotonic()
            thread.join(timeout=60)
    assert vote.status_code == 200, vote.text
    assert finished["vote"] < finished["submit"]  # the vote did not queue behind arXiv


def test_refused_submissions_still_count_against_the_limit(demo_settings: Settings) -> None:
    settings = _settings(demo_settings, limit_submit_per_account="2/hour")
    token = api_token(settings, make_user(settings, "ada"))
    with TestClient(create_app(settings)) as client:
        codes = [
            client.post(
                "/api/papers/submit", json={"paper_id": "not a paper"}, headers=_bearer(token)
            ).status_code
            for _ in range(3)
        ]
    assert codes == [400, 400, 429]


def test_a_malformed_arxiv_answer_to_a_submission_is_a_clear_502(demo_settings: Settings) -> None:
    with SlowArxiv(delay=0, body=b"<feed><entry>not closed") as arxiv:
        settings = _settings(demo_settings, arxiv_api_url=arxiv.url, arxiv_delay_seconds=0)
        token = api_token(settings, make_user(settings, "ada"))
        with TestClient(create_app(settings)) as client:
            response = client.post(
                "/api/papers/submit", json={"paper_id": "2606.22527"}, headers=_bearer(token)
            )
            sign_in(client, "ada")
            page = form(client, "/papers/submit", {"paper": "2606.22527", "comment": "kept"})
    assert response.status_code == 502
    assert "could not be read" in response.json()["error"]
    assert page.status_code == 502
    assert "kept" in page.text


# 4. Sign-up timing ----------------------------------------------------------------------------


def test_sign_up_hashes_a_password_whether_or_not_the_address_is_taken(
    settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes: list[str] = []

    class CountingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            hashes.append("hash")
            return super().hash(password, salt=salt)

    make_user(settings, "ada")
    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    for name, email in (("new-person", "new@example.org"), ("someone", "ada@example.org")):
        with session_scope(session_factory) as session:
            accounts.sign_up(
                session,
                settings,
                Signer(settings),
                username=name,
                email=email,
                password=PASSWORD,
                now=dt.datetime.now(dt.UTC),
            )
    assert hashes == ["hash", "hash"]  # the same work for a new and for a taken address


# 5. CSRF on cookie writes to the API, and Origin ----------------------------------------------


def test_cookie_writes_to_the_api_need_the_csrf_header(demo_settings: Settings) -> None:
    make_user(demo_settings, "ada")
    with TestClient(create_app(demo_settings)) as client:
        sign_in(client, "ada")
        assert client.post(f"/api/papers/{PAPER}/upvote").status_code == 403
        assert client.delete(f"/api/papers/{PAPER}/upvote").status_code == 403
        refused = client.post("/api/papers/submit", json={"paper_id": PAPER})
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["error"]
        token = client.get("/signin").text.split('name="csrf_token" value="')[1].split('"')[0]
        allowed = client.post(f"/api/papers/{PAPER}/upvote", headers={"X-CSRF-Token": token})
        assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_requests_from_another_origin_are_refused(demo_settings: Settings, origin: str) -> None:
    token = api_token(demo_settings, make_user(demo_settings, "ada"))
    with TestClient(create_app(demo_settings)) as client:
        sign_in(client, "ada")
        headers = {"Origin": origin}
        voted = client.post(f"/api/papers/{PAPER}/upvote", headers={**headers, **_bearer(token)})
        assert voted.status_code == 403
        signed_out = form(client, "/signout", headers=headers, follow_redirects=False)
        assert signed_out.status_code == 403
        same = form(
            client, "/signout", headers={"Origin": "http://testserver"}, follow_redirects=False
        )
        assert same.status_code == 303


# 6, 7. Sessions and tokens end -----------------------------------------------------------------


def test_signing_out_ends_the_session_for_a_copied_cookie(demo_settings: Settings) -> None:
    make_user(demo_settings, "ada")
    app = create_app(demo_settings)
    with TestClient(app) as client, TestClient(app) as thief:
        sign_in(client, "ada")
        thief.cookies.update(client.cookies)
        assert thief.get("/account", follow_redirects=False).status_code == 200
        assert form(client, "/signout", follow_redirects=False).status_code == 303
        assert thief.get("/account", follow_redirects=False).status_code == 303  # to /signin


def test_a_password_change_or_reset_revokes_api_tokens(demo_settings: Settings) -> None:
    user_id = make_user(demo_settings, "ada")
    app = create_app(demo_settings)
    with TestClient(app) as client:
        token = api_token(demo_settings, user_id)
        assert client.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(token)).status_code == 200
        sign_in(client, "ada")
        new_password = "a brand new password"
        changed = form(
            client,
            "/account/password",
            {"current": PASSWORD, "new": new_password},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert client.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(token)).status_code == 401
        assert client.get("/account", follow_redirects=False).status_code == 200  # still in

        second = api_token(demo_settings, user_id)
        with db_session(demo_settings) as session:
            user = session.get(User, user_id)
            assert user is not None
            link = Signer(demo_settings).dumps(
                accounts.RESET_PURPOSE, [user.id, accounts._password_fingerprint(user)]
            )
        reset = form(client, f"/account/reset/{link}", {"password": "yet another password"})
        assert reset.status_code == 200
        assert (
            client.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(second)).status_code == 401
        )


def test_an_api_token_counts_on_the_api_only(demo_settings: Settings) -> None:
    """Review finding: a token on the account pages could mint more tokens (which outlive the
    revocation of the leaked one) and read the data export."""
    user_id = make_user(demo_settings, "ada")
    token = api_token(demo_settings, user_id)
    with TestClient(create_app(demo_settings)) as thief:
        page = thief.get("/signin").text  # an anonymous session and its CSRF token
        anonymous_csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        minted = thief.post(
            "/account/tokens",
            data={"name": "copy", "csrf_token": anonymous_csrf},
            headers=_bearer(token),
            follow_redirects=False,
        )
        assert minted.status_code in (303, 401)
        for path in ("/account", "/account/export"):
            answer = thief.get(path, headers=_bearer(token), follow_redirects=False)
            assert answer.status_code in (303, 401), path
            assert "ada" not in answer.text, path
        assert thief.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(token)).status_code == 200
    with db_session(demo_settings) as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1


# 8. Security headers ---------------------------------------------------------------------------


def test_security_headers_on_every_answer(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as client:
        for path in ("/", f"/papers/{PAPER}", "/api/daily_papers", "/nowhere"):
            headers = client.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            assert "strict-transport-security" not in headers  # http: no HSTS
        assert client.get("/signin").headers["cache-control"] == "no-store"
        assert "no-store" not in client.get("/").headers.get("cache-control", "")
    secure = _settings(demo_settings, base_url="https://papers.example.org")
    with TestClient(create_app(secure), base_url="https://papers.example.org") as client:
        assert client.get("/").headers["strict-transport-security"].startswith("max-age=")


def test_api_docs_are_served_from_this_site(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "https://" not in page.text
        assert "<script>" not in page.text  # no inline script: the CSP holds
        for asset in ("/static/swagger-ui/swagger-ui-bundle.js", "/static/api-docs.js"):
            assert asset in page.text
            assert client.get(asset).status_code == 200
        assert client.get("/redoc").status_code == 404


# 10. Mail flooding ------------------------------------------------------------------------------


def test_email_change_requests_are_limited(demo_settings: Settings) -> None:
    settings = _settings(demo_settings, limit_email_per_account="2/hour")
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        sign_in(client, "ada")
        codes = []
        for i in range(3):
            response = form(
                client,
                "/account/email",
                {"email": f"new{i}@example.org", "password": PASSWORD},
                follow_redirects=False,
            )
            codes.append(response.status_code)
    assert codes == [303, 303, 429]
    assert int(response.headers["retry-after"]) > 0


def test_sign_ups_with_a_taken_address_mail_its_owner_a_bounded_number_of_times(
    demo_settings: Settings,
) -> None:
    settings = _settings(
        demo_settings, limit_signup_per_ip="100/hour", limit_mail_per_address="2/day"
    )
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        for i in range(5):
            response = form(
                client,
                "/signup",
                {"username": f"visitor{i}", "email": "ada@example.org", "password": PASSWORD},
            )
            assert response.status_code == 200  # the same answer every time: no telling
    with db_session(settings) as session:
        mails = session.scalars(select(Job.payload).where(Job.kind == accounts.ACCOUNT_MAIL_JOB))
        exists = [p for p in mails if p["template"] == "account_exists"]
    assert len(exists) == 2


# 13. Retry-After --------------------------------------------------------------------------------


def test_rate_limited_writes_keep_retry_after(demo_settings: Settings) -> None:
    settings = _settings(
        demo_settings, limit_vote_per_account="1/hour", limit_comment_per_account="1/hour"
    )
    token = api_token(settings, make_user(settings, "ada"))
    with TestClient(create_app(settings)) as client:
        client.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(token))
        limited = client.post(f"/api/papers/{PAPER}/upvote", headers=_bearer(token))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "error" in limited.json()
        sign_in(client, "ada")
        form(client, f"/papers/{PAPER}/comments", {"body": "one"})
        page = form(client, f"/papers/{PAPER}/comments", {"body": "two"})
        assert page.status_code == 429
        assert int(page.headers["retry-after"]) > 0


# 14. Redirects stay on the site -----------------------------------------------------------------


@pytest.mark.parametrize(
    "referer",
    [
        "http://testserver//evil.example/x",
        "http://testserver/\\evil.example",
        "https://evil.example/",
    ],
)
def test_the_redirect_after_a_form_stays_on_the_site(demo_settings: Settings, referer: str) -> None:
    make_user(demo_settings, "ada")
    with TestClient(create_app(demo_settings)) as client:
        sign_in(client, "ada")
        response = form(
            client,
            f"/papers/{PAPER}/upvote",
            {"action": "up"},
            headers={"Referer": referer},
            follow_redirects=False,
        )
    location = response.headers["location"]
    assert response.status_code == 303
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location


# 15. Imported names ------------------------------------------------------------------------------


def _imported_item(submitter: str, org: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        (DATA_DIR / "hf_api_daily_papers_2026-02-10.json").read_text()
    )
    item = items[0]
    item["submittedBy"] = {**item["submittedBy"], "name": submitter, "fullname": "Not the admin"}
    item["organization"] = {**item["organization"], "name": org}
    return [item]


def test_imported_submitters_and_orgs_are_not_local_accounts(
    demo_settings: Settings, tmp_path: Path
) -> None:
    admin_id = make_user(demo_settings, "admin", role="admin")
    path = tmp_path / "hf.json"
    path.write_text(json.dumps(_imported_item("admin", "some/lab")))
    engine = make_engine(demo_settings)
    load_hf_daily(make_session_factory(engine), demo_settings, path)
    engine.dispose()
    with db_session(demo_settings) as session:
        entry = session.scalars(
            select(DailyEntry).join(DailyEntry.paper).where(Paper.arxiv_id == PAPER)
        ).one()
        assert entry.submitter_id != admin_id
        assert entry.submitter is not None
        assert entry.submitter.is_external
        assert entry.organization is not None
        org_name, user_name = entry.organization.name, entry.submitter.username
    with TestClient(create_app(demo_settings)) as client:
        assert "Not the admin" not in client.get("/users/admin").text
        assert client.get(f"/users/{user_name}").status_code == 200
        assert client.get(f"/orgs/{org_name}").status_code == 200  # one path segment
        items = client.get("/api/daily_papers", params={"date": "2026-02-10", "submitter": "admin"})
        assert [i["submittedBy"]["user"] for i in items.json()] == ["admin"]  # as HF shows it


# 16. Deeply nested input ------------------------------------------------------------------------


def test_hostile_lines_in_an_hf_file_are_reported_and_the_rest_loaded(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    good = (DATA_DIR / "hf_daily_malformed.jsonl").read_bytes().split(b"\n")[0].decode()
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        "\n".join([good, "[" * 100_000 + "]" * 100_000, '{"upvotes": ' + "9" * 5000 + "}"]) + "\n"
    )
    stats = load_hf_daily(session_factory, settings, path)
    with session_scope(session_factory) as session:
        stored = session.scalar(select(func.count()).select_from(Paper))
    assert stats.failed == 2, stats.errors
    assert any("nested too deeply" in error for error in stats.errors)
    assert stored == 1


# 17. Sign-in limit per account ------------------------------------------------------------------


def test_the_sign_in_limit_counts_username_and_email_as_one_account(
    demo_settings: Settings,
) -> None:
    settings = _settings(demo_settings, limit_signin_per_account="3/hour")
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        codes = []
        for login in ("ada", "ada@example.org", "ADA", "ada@example.org"):
            response = form(client, "/signin", {"login": login, "password": "wrong password"})
            codes.append(response.status_code)
    assert codes == [400, 400, 400, 429]
