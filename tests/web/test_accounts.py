"""Accounts through the pages: sign-up with a verification mail, sign-in, reset, password and
email change, tokens, export, deletion; no enumeration, CSRF, open redirects, rate limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.cli import main
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.models import Comment, Job, Paper, User, Vote
from dailypapers.web.app import create_app
from dailypapers.worker import Worker
from tests.factories import PASSWORD, make_user
from tests.support.database import database_env, db_session, make_settings
from tests.support.smtp import SmtpRecorder
from tests.support.web_client import csrf_token, form, sign_in

pytestmark = pytest.mark.both_backends


@pytest.fixture
def client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings)) as client:
        yield client


def _run_worker(settings: Settings) -> None:
    engine = make_engine(settings)
    Worker(settings, engine, make_session_factory(engine)).run_once()
    engine.dispose()


def _link(smtp: SmtpRecorder, path: str) -> str:
    text = smtp.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"http://testserver({path}\S+)", text)
    assert match, text
    return match[1]


def _signup(client: TestClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"username": "ada", "email": "ada@example.org", "password": PASSWORD} | fields
    return form(client, "/signup", data)


def test_sign_up_verify_sign_in_and_out(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    response = _signup(client, fullname="Ada Lovelace")
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    _run_worker(mail_settings)
    (mail,) = smtp.messages
    assert mail["To"] == "ada@example.org"
    assert "Confirm your email address" in str(mail["Subject"])
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'href="http://testserver/account/verify/' in html
    verified = client.get(_link(smtp, "/account/verify/"))
    assert "Thank you, Ada Lovelace" in verified.text
    with db_session(mail_settings) as session:
        user = session.scalars(select(User)).one()
        assert user.email_verified_at is not None
        assert user.password_hash is not None
        assert PASSWORD not in user.password_hash
    sign_in(client, "ADA@example.org")
    page = client.get("/account")
    assert page.status_code == 200
    assert "@ada" in page.text
    assert form(client, "/signout", follow_redirects=False).status_code == 303
    assert (
        client.get("/account", follow_redirects=False).headers["location"]
        == "/signin?next=/account"
    )


def test_an_unconfirmed_address_reads_but_cannot_write_until_its_link_is_opened(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    """Review finding: sign-ups voted and commented without ever opening the mailed link."""
    _signup(client)
    sign_in(client, "ada")
    paper = "/papers/2602.08222"
    assert client.get(paper).status_code == 200
    vote = form(client, f"{paper}/upvote", {"action": "up"}, follow_redirects=False)
    assert vote.status_code == 403
    assert "Confirm your email address first" in vote.text
    comment = form(client, f"{paper}/comments", {"body": "hello"}, follow_redirects=False)
    assert comment.status_code == 403
    with db_session(mail_settings) as session:
        assert session.scalars(select(Vote)).all() == []
        assert session.scalars(select(Comment)).all() == []
    # A new link from the account page; the first mail is lost, the second one works.
    assert "Mail me a new link" in client.get("/account").text
    asked = form(client, "/account/verify", follow_redirects=False)
    assert asked.headers["location"] == "/account?notice=verify"
    _run_worker(mail_settings)
    assert len(smtp.messages) == 2
    client.get(_link(smtp, "/account/verify/"))
    assert "Mail me a new link" not in client.get("/account").text
    voted = form(client, f"{paper}/upvote", {"action": "up"}, follow_redirects=False)
    assert voted.status_code == 303


def test_a_site_of_known_accounts_may_let_unconfirmed_ones_write(
    mail_settings: Settings,
) -> None:
    settings = mail_settings.model_copy(update={"require_verified_email": False})
    with TestClient(create_app(settings)) as client:
        _signup(client)
        sign_in(client, "ada")
        vote = form(client, "/papers/2602.08222/upvote", {"action": "up"}, follow_redirects=False)
        assert vote.status_code == 303


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "a"}, "username", "Use 3–40 letters"),
        ({"username": "<script>"}, "username", "Use 3–40 letters"),
        ({"email": "not an address"}, "email", "not a valid email address"),
        ({"password": "short"}, "password", "Use at least 10 characters."),
    ],
)
def test_bad_sign_up_input_is_explained_with_the_text_kept(
    client: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = _signup(client, fullname="Grace Hopper", **fields)
    assert response.status_code == 400
    assert message in response.text
    assert 'value="Grace Hopper"' in response.text
    assert f'id="{field}-error"' in response.text


def test_a_taken_email_is_not_revealed_and_its_owner_is_told(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    make_user(mail_settings, "owner")
    first = _signup(client, username="someone", email="owner@example.org")
    other = _signup(client, username="another", email="fresh@example.org")
    assert first.status_code == other.status_code == 200
    assert first.text.replace("owner@example.org", "X") == other.text.replace(
        "fresh@example.org", "X"
    )
    _run_worker(mail_settings)
    subjects = {str(m["To"]): str(m["Subject"]) for m in smtp.messages}
    assert "tried to sign up" in subjects["owner@example.org"]
    with db_session(mail_settings) as session:
        assert session.scalar(select(User.id).where(User.username == "someone")) is None


def test_sign_in_says_the_same_for_a_wrong_password_and_an_unknown_account(
    client: TestClient, mail_settings: Settings
) -> None:
    make_user(mail_settings, "ada")
    wrong = form(client, "/signin", {"login": "ada", "password": "wrong password"})
    unknown = form(client, "/signin", {"login": "nobody", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.text.replace('value="ada"', "X") == unknown.text.replace('value="nobody"', "X")


def test_password_reset_by_mail_works_once_and_does_not_reveal_accounts(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    make_user(mail_settings, "ada")
    known = form(client, "/account/reset", {"email": "ada@example.org"})
    unknown = form(client, "/account/reset", {"email": "nobody@example.org"})
    assert known.text.replace("ada@", "X@") == unknown.text.replace("nobody@", "X@")
    _run_worker(mail_settings)
    assert [str(m["To"]) for m in smtp.messages] == ["ada@example.org"]
    path = _link(smtp, "/account/reset/")
    assert form(client, path, {"password": "short"}).status_code == 400
    done = form(client, path, {"password": "a brand new password"}, follow_redirects=False)
    assert done.status_code == 303
    again = form(client, path, {"password": "yet another password"})
    assert again.status_code == 400
    assert "used already" in again.text
    with TestClient(create_app(mail_settings)) as other:
        assert form(other, "/signin", {"login": "ada", "password": PASSWORD}).status_code == 400
        sign_in(other, "ada", "a brand new password")


def test_changing_the_password_signs_out_other_sessions(mail_settings: Settings) -> None:
    make_user(mail_settings, "ada")
    with (
        TestClient(create_app(mail_settings)) as laptop,
        TestClient(create_app(mail_settings)) as phone,
    ):
        sign_in(laptop, "ada")
        sign_in(phone, "ada")
        bad = form(laptop, "/account/password", {"current": "nope", "new": "x"})
        assert bad.status_code == 400
        assert "This is not your current password." in bad.text
        assert "Use at least 10 characters." in bad.text
        ok = form(
            laptop,
            "/account/password",
            {"current": PASSWORD, "new": "another long one"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert laptop.get("/account").status_code == 200
        assert phone.get("/account", follow_redirects=False).status_code == 303


def test_email_change_by_a_link_to_the_new_address(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    make_user(mail_settings, "ada")
    sign_in(client, "ada")
    bad = form(client, "/account/email", {"email": "new@example.org", "password": "wrong"})
    assert bad.status_code == 400
    assert 'value="new@example.org"' in bad.text
    form(client, "/account/email", {"email": "new@example.org", "password": PASSWORD})
    _run_worker(mail_settings)
    assert smtp.messages[-1]["To"] == "new@example.org"
    client.get(_link(smtp, "/account/email/"))
    with db_session(mail_settings) as session:
        assert session.scalars(select(User.email)).one() == "new@example.org"


def test_api_tokens_vote_until_revoked(client: TestClient, mail_settings: Settings) -> None:
    make_user(mail_settings, "ada")
    sign_in(client, "ada")
    page = form(client, "/account/tokens", {"name": "script"})
    secret = re.search(r'<code class="token">([^<]+)</code>', page.text)[1]  # type: ignore[index]
    with TestClient(create_app(mail_settings)) as api:
        headers = {"Authorization": f"Bearer {secret}"}
        voted = api.post("/api/papers/2602.08222/upvote", headers=headers)
        assert voted.status_code == 200, voted.text
        assert voted.json()["voted"] is True
        with db_session(mail_settings) as session:
            token_id = session.scalar(select(Vote.id))
            assert token_id is not None
        token_row = re.search(r"/account/tokens/(\d+)/revoke", client.get("/account").text)[1]  # type: ignore[index]
        form(client, f"/account/tokens/{token_row}/revoke")
        refused = api.post("/api/papers/2602.08222/upvote", headers=headers)
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "This API token is not valid (it may have been revoked)."
        }
        assert api.post("/api/papers/2602.08222/upvote").status_code == 401


def test_forms_without_this_sessions_token_are_refused(mail_settings: Settings) -> None:
    make_user(mail_settings, "ada")
    with (
        TestClient(create_app(mail_settings)) as victim,
        TestClient(create_app(mail_settings)) as attacker,
    ):
        sign_in(victim, "ada")
        missing = victim.post("/account/tokens", data={"name": "x"})
        assert missing.status_code == 403
        assert "expired or was sent from another site" in missing.text
        foreign = victim.post(
            "/account/tokens", data={"name": "x", "csrf_token": csrf_token(attacker, "/signin")}
        )
        assert foreign.status_code == 403
        assert victim.post("/papers/2602.08222/upvote", data={}).status_code == 403


def test_sign_in_never_redirects_off_site(client: TestClient, mail_settings: Settings) -> None:
    make_user(mail_settings, "ada")
    for target, expected in [
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/papers/trending", "/papers/trending"),
    ]:
        response = form(
            client,
            "/signin",
            {"login": "ada", "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected, target


def test_sign_in_attempts_are_rate_limited_per_account(mail_settings: Settings) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        limit_signin_per_account="3/hour",
    )
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert form(client, "/signin", {"login": "ada", "password": "bad"}).status_code == 400
        limited = form(client, "/signin", {"login": "ada", "password": PASSWORD})
        assert limited.status_code == 429
        assert "at most 3 per hour" in limited.text


def test_delete_account_keeps_comments_as_deleted_user_and_removes_votes(
    client: TestClient, mail_settings: Settings
) -> None:
    make_user(mail_settings, "ada")
    sign_in(client, "ada")
    with db_session(mail_settings) as session:
        before = session.scalars(select(Paper).where(Paper.arxiv_id == "2602.08222")).one().upvotes
    form(client, "/papers/2602.08222/upvote", {"action": "up"})
    form(client, "/papers/2602.08222/comments", {"body": "Nice *result*."})
    export = client.get("/account/export")
    assert export.json()["upvotes"] == ["2602.08222"]
    assert export.json()["comments"][0]["body"] == "Nice *result*."
    assert form(client, "/account/delete", {"password": "wrong"}).status_code == 400
    form(client, "/account/delete", {"password": PASSWORD})
    with db_session(mail_settings) as session:
        assert session.scalar(select(User.id).where(User.username == "ada")) is None
        assert session.scalars(select(Vote)).all() == []
        comment = session.scalars(select(Comment)).one()
        assert comment.user_id is None
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "2602.08222")).one()
        assert paper.upvotes == before
    assert "deleted user" in client.get("/papers/2602.08222").text


def test_user_create_and_promote_from_the_cli(mail_settings: Settings) -> None:
    runner = CliRunner(
        env={"DAILYPAPERS_DATA_DIR": str(mail_settings.data_dir), **database_env(mail_settings)}
    )
    created = runner.invoke(
        main,
        ["user", "create", "--username", "boss", "--email", "boss@example.org", "--role", "admin"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    promoted = runner.invoke(main, ["user", "promote", "boss", "--role", "moderator"])
    assert "boss is now moderator" in promoted.output
    missing = runner.invoke(main, ["user", "promote", "nobody"])
    assert missing.exit_code == 2
    taken = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "boss",
            "--email",
            "x@example.org",
            "--password",
            PASSWORD,
        ],
    )
    assert taken.exit_code == 2
    assert "This username is taken." in taken.output
    with db_session(mail_settings) as session:
        assert session.scalars(select(Job).where(Job.kind == "send_account_mail")).all() == []


@pytest.mark.parametrize(
    ("setting", "path", "data"),
    [
        ("limit_signup_per_ip", "/signup", {"username": "x", "email": "bad", "password": "p"}),
        ("limit_signin_per_ip", "/signin", {"login": "someone", "password": "wrong"}),
        ("limit_reset_per_ip", "/account/reset", {"email": "someone@example.org"}),
        ("limit_reset_per_account", "/account/reset", {"email": "same@example.org"}),
    ],
)
def test_each_account_form_is_rate_limited(
    mail_settings: Settings, setting: str, path: str, data: dict[str, str]
) -> None:
    settings = make_settings(
        mail_settings.data_dir, database_url=mail_settings.database_url, **{setting: "2/hour"}
    )
    with TestClient(create_app(settings)) as client:
        for i in range(2):
            varied = {
                k: (v if "account" in setting or k != "login" else f"{v}{i}")
                for k, v in data.items()
            }
            assert form(client, path, varied).status_code != 429
        limited = form(client, path, data)
        assert limited.status_code == 429
        assert "at most 2 per hour" in limited.text
        assert int(limited.headers["Retry-After"]) > 0
