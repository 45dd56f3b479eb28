"""Webhooks through /account/webhooks and /api/me/webhooks, on the real app and both backends:
add, list, test, re-enable, delete; refused targets; another user's hooks; CSRF, sign-in and
hostile input; the secret kept out of logs and other views; a test reaching a real receiver."""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.jobs import WEBHOOK_TEST_JOB
from dailypapers.models import Job, Webhook, WebhookDelivery
from dailypapers.web.app import create_app
from dailypapers.webhooks import delivery
from dailypapers.worker import Worker
from tests.factories import api_token, make_user
from tests.support.database import db_session
from tests.support.web_client import csrf_token, form, sign_in
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.both_backends
PAGE = "/account/webhooks"
PUBLIC_URL = "https://93.184.216.34/hooks/in"  # a public address literal: no DNS lookup
REFUSED = "The address 127.0.0.1 is a loopback address: webhooks can only reach public addresses."
HUGE_ID = "99999999999999999999"


@pytest.fixture
def app_settings(demo_settings: Settings) -> Settings:
    return demo_settings.model_copy(update={"offline": True})


@pytest.fixture
def browser(app_settings: Settings) -> Iterator[TestClient]:
    """Ada signed in with the session cookie, as a browser is."""
    make_user(app_settings, "ada")
    with TestClient(create_app(app_settings)) as client:
        sign_in(client, "ada")
        yield client


def _api(client: TestClient, settings: Settings, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(settings, make_user(settings, name))}"}


def _hooks(settings: Settings) -> list[Webhook]:
    with db_session(settings) as session:
        rows = list(session.scalars(select(Webhook).order_by(Webhook.id)))
        session.expunge_all()
        return rows


def _test_jobs(settings: Settings) -> int:
    with db_session(settings) as session:
        return session.scalar(select(func.count()).where(Job.kind == WEBHOOK_TEST_JOB)) or 0


def _add(client: TestClient, url: str = PUBLIC_URL):  # type: ignore[no-untyped-def]
    return form(client, PAGE, {"url": url}, follow_redirects=False)


def test_add_test_disable_enable_delete_through_the_page(
    browser: TestClient, app_settings: Settings
) -> None:
    assert 'href="/account/webhooks"' in browser.get("/account").text
    added = _add(browser)
    assert added.status_code == 303
    assert added.headers["location"] == f"{PAGE}?notice=added"
    (hook,) = _hooks(app_settings)
    assert hook.url == PUBLIC_URL
    assert hook.active
    shown = browser.get(added.headers["location"]).text
    assert "Webhook added." in shown
    assert hook.secret in shown  # to its owner, with how to verify
    assert "docs/webhooks.md" in shown
    assert "No delivery yet." in shown

    tested = form(browser, f"{PAGE}/{hook.id}/test", follow_redirects=False)
    assert tested.status_code == 303
    assert _test_jobs(app_settings) == 1

    with db_session(app_settings) as session:
        row = session.get(Webhook, hook.id)
        assert row is not None
        row.active = False
        row.disabled_at = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
        row.disabled_reason = "5 deliveries in a row failed (last: HTTP 500)"
        session.commit()
    page = browser.get(PAGE).text
    assert "disabled" in page
    assert "2026-03-01 08:30 UTC" in page
    assert "5 deliveries in a row failed (last: HTTP 500)" in page
    assert f'action="{PAGE}/{hook.id}/enable"' in page
    # A disabled hook cannot be tested: a clear 400.
    refused = form(browser, f"{PAGE}/{hook.id}/test")
    assert refused.status_code == 400
    assert "This webhook is disabled: turn it back on first." in refused.text
    assert form(browser, f"{PAGE}/{hook.id}/enable", follow_redirects=False).status_code == 303
    (enabled,) = _hooks(app_settings)
    assert enabled.active
    assert enabled.disabled_reason is None
    assert enabled.disabled_at is None

    deleted = form(browser, f"{PAGE}/{hook.id}/delete", follow_redirects=False)
    assert deleted.status_code == 303
    assert _hooks(app_settings) == []
    assert "No webhook yet." in browser.get(deleted.headers["location"]).text


def test_a_private_target_is_refused_with_the_services_message(
    browser: TestClient, app_settings: Settings
) -> None:
    assert not app_settings.webhook_allow_private
    page = _add(browser, "http://127.0.0.1:8080/in")
    assert page.status_code == 400
    assert html.escape(REFUSED, quote=False) in page.text
    assert 'value="http://127.0.0.1:8080/in"' in page.text  # the form keeps what was typed
    api = browser.post(
        "/api/me/webhooks",
        json={"url": "http://10.1.2.3/in"},
        headers={"X-CSRF-Token": csrf_token(browser, "/signin")},
    )
    assert api.status_code == 400
    assert api.json()["error"] == (
        "The address 10.1.2.3 is a private address: webhooks can only reach public addresses."
    )
    assert _hooks(app_settings) == []


def test_the_api_adds_lists_tests_enables_and_deletes(app_settings: Settings) -> None:
    with TestClient(create_app(app_settings)) as client:
        ada = _api(client, app_settings, "ada")
        made = client.post("/api/me/webhooks", json={"url": PUBLIC_URL}, headers=ada)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["secret"].startswith("whsec_")
        assert body["active"] is True
        hook_id = body["id"]
        listed = client.get("/api/me/webhooks", headers=ada).json()
        assert [(h["id"], h["url"]) for h in listed] == [(hook_id, PUBLIC_URL)]
        assert "secret" not in listed[0]  # the secret is in the creation answer only
        assert client.post(f"/api/me/webhooks/{hook_id}/test", headers=ada).status_code == 202
        assert _test_jobs(app_settings) == 1
        assert client.get(f"/api/me/webhooks/{hook_id}/deliveries", headers=ada).json() == []
        enabled = client.post(f"/api/me/webhooks/{hook_id}/enable", headers=ada)
        assert enabled.status_code == 200
        assert enabled.json()["active"] is True
        assert client.delete(f"/api/me/webhooks/{hook_id}", headers=ada).status_code == 204
        assert client.get("/api/me/webhooks", headers=ada).json() == []
        assert client.delete(f"/api/me/webhooks/{hook_id}", headers=ada).status_code == 404


def test_the_most_hooks_an_account_may_have(app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"webhook_max_per_user": 1})
    with TestClient(create_app(settings)) as client:
        ada = _api(client, settings, "ada")
        assert client.post("/api/me/webhooks", json={"url": PUBLIC_URL}, headers=ada).is_success
        again = client.post("/api/me/webhooks", json={"url": PUBLIC_URL}, headers=ada)
        assert again.status_code == 400
        assert "the most an account may have" in again.json()["error"]
    assert len(_hooks(settings)) == 1


def test_another_users_hook_is_not_found_everywhere(
    browser: TestClient, app_settings: Settings
) -> None:
    _add(browser)
    (hook,) = _hooks(app_settings)
    eve = _api(browser, app_settings, "eve")
    with TestClient(create_app(app_settings)) as eve_browser:
        sign_in(eve_browser, "eve")
        page = eve_browser.get(PAGE).text
        assert hook.secret not in page
        assert PUBLIC_URL not in page
        for action in ("delete", "enable", "test"):
            answer = form(eve_browser, f"{PAGE}/{hook.id}/{action}")
            assert answer.status_code == 404, action
            assert f"You have no webhook with id {hook.id}." in answer.text
    api = TestClient(browser.app)
    calls = [
        ("DELETE", f"/api/me/webhooks/{hook.id}"),
        ("POST", f"/api/me/webhooks/{hook.id}/test"),
        ("POST", f"/api/me/webhooks/{hook.id}/enable"),
        ("GET", f"/api/me/webhooks/{hook.id}/deliveries"),
    ]
    for method, path in calls:
        answer = api.request(method, path, headers=eve)
        assert answer.status_code == 404, path
        assert answer.json() == {"error": f"You have no webhook with id {hook.id}."}
        assert hook.secret not in answer.text
    assert api.get("/api/me/webhooks", headers=eve).json() == []
    assert [(h.id, h.active) for h in _hooks(app_settings)] == [(hook.id, True)]
    assert _test_jobs(app_settings) == 0


def test_writes_need_csrf_and_a_signed_in_user(browser: TestClient, app_settings: Settings) -> None:
    _add(browser)
    (hook,) = _hooks(app_settings)
    for path in (PAGE, f"{PAGE}/{hook.id}/delete", f"{PAGE}/{hook.id}/test"):
        assert browser.post(path, data={"url": PUBLIC_URL}).status_code == 403, path
    assert browser.post("/api/me/webhooks", json={"url": PUBLIC_URL}).status_code == 403
    assert browser.delete(f"/api/me/webhooks/{hook.id}").status_code == 403
    assert browser.post(f"/api/me/webhooks/{hook.id}/test").status_code == 403
    assert len(_hooks(app_settings)) == 1
    assert _test_jobs(app_settings) == 0

    with TestClient(create_app(app_settings)) as anonymous:
        signin = anonymous.get(PAGE, follow_redirects=False)
        assert signin.status_code == 303
        assert signin.headers["location"].startswith("/signin")
        assert form(anonymous, PAGE, {"url": PUBLIC_URL}).status_code == 401
        assert form(anonymous, f"{PAGE}/{hook.id}/delete").status_code == 401
        assert anonymous.get("/api/me/webhooks").status_code == 401
        assert anonymous.post("/api/me/webhooks", json={"url": PUBLIC_URL}).status_code == 401
        assert anonymous.get(f"/api/me/webhooks/{hook.id}/deliveries").status_code == 401
    assert len(_hooks(app_settings)) == 1


HOSTILE_URLS = [
    "https://example.org/\x00hook",
    "https://example.org/" + "a" * 10_000,
    "https://example.org/" + "a" * 2_100,
    "javascript:alert(1)",
    '"><script>alert(1)</script>',
    "",
    "ftp://93.184.216.34/x",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused_and_nothing_is_stored(
    browser: TestClient, app_settings: Settings, url: str
) -> None:
    page = _add(browser, url)
    assert page.status_code == 400
    assert "<script>alert(1)</script>" not in page.text
    api = browser.post(
        "/api/me/webhooks",
        json={"url": url},
        headers={"X-CSRF-Token": csrf_token(browser, "/signin")},
    )
    assert api.status_code == 400
    assert api.json()["error"]
    assert _hooks(app_settings) == []


def test_hostile_ids_and_bodies_are_client_errors(browser: TestClient) -> None:
    token = {"X-CSRF-Token": csrf_token(browser, "/signin")}
    for bad in (HUGE_ID, "0", "-1", "abc", "1%00"):
        assert 400 <= form(browser, f"{PAGE}/{bad}/delete").status_code < 500, bad
        assert 400 <= browser.post(f"/api/me/webhooks/{bad}/test", headers=token).status_code < 500
        assert 400 <= browser.get(f"/api/me/webhooks/{bad}/deliveries").status_code < 500
    for body in (b"{", b'{"url": 5}', b"[]", b'{"url": "https://a.org/\\u0000"}'):
        answer = browser.post(
            "/api/me/webhooks",
            content=body,
            headers={**token, "content-type": "application/json"},
        )
        assert answer.status_code == 400, body
    assert browser.get("/api/me/webhooks/1/deliveries?limit=100000").status_code == 400


def test_the_secret_stays_out_of_the_log_the_export_and_other_views(
    browser: TestClient, app_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    form(browser, "/papers/2602.08222/save")  # a library to restore from the export
    _add(browser)
    (hook,) = _hooks(app_settings)
    form(browser, f"{PAGE}/{hook.id}/test")
    browser.get(PAGE)
    browser.get("/api/me/webhooks")
    exported = browser.get("/account/export")
    assert exported.status_code == 200
    data = json.loads(exported.content)
    assert data["webhooks"] == [
        {
            "url": PUBLIC_URL,
            "active": True,
            "disabled_at": None,
            "disabled_reason": None,
            "created_at": hook.created_at.isoformat(),
        }
    ]
    assert hook.secret not in exported.text
    assert hook.secret not in caplog.text
    with db_session(app_settings) as session:
        payloads = [json.dumps(job.payload) for job in session.scalars(select(Job))]
    assert payloads
    assert all(hook.secret not in payload for payload in payloads)
    # The account export imports back as a library restore: the new key is ignored.
    restored = form(
        browser,
        "/library/import",
        files={"file": ("export.json", exported.content, "application/json")},
    )
    assert restored.status_code < 400, restored.text


def test_send_test_reaches_a_real_receiver_when_the_worker_runs(app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"webhook_allow_private": True})
    make_user(settings, "ada")
    with receiver() as server, TestClient(create_app(settings)) as client:
        sign_in(client, "ada")
        assert _add(client, server.url("/in")).status_code == 303
        (hook,) = _hooks(settings)
        assert form(client, f"{PAGE}/{hook.id}/test", follow_redirects=False).status_code == 303
        engine = make_engine(settings)
        worker = Worker(settings, engine, make_session_factory(engine), handlers=delivery.HANDLERS)
        assert worker.run_once().done >= 1
        engine.dispose()
        (got,) = server.requests
        assert got.headers["X-Dailypapers-Event"] == "test"
        assert json.loads(got.body)["papers"] == []
        page = client.get(PAGE).text
        log = re.search(r'<table class="deliveries">(.*?)</table>', page, re.S)
        assert log is not None
        assert "<td>test</td><td>200</td><td>1</td>" in log[1]
        (row,) = client.get(f"/api/me/webhooks/{hook.id}/deliveries").json()
        assert (row["event"], row["statusCode"], row["attempt"], row["error"]) == (
            "test",
            200,
            1,
            None,
        )
    with db_session(settings) as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_adding_and_testing_count_against_the_webhook_limit(app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"limit_webhook_per_account": "2/hour"})
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        sign_in(client, "ada")
        assert _add(client).status_code == 303
        (hook,) = _hooks(settings)
        assert form(client, f"{PAGE}/{hook.id}/test", follow_redirects=False).status_code == 303
        over = _add(client, "https://93.184.216.35/other")
        assert over.status_code == 429
        assert over.headers["Retry-After"]
        token = {"X-CSRF-Token": csrf_token(client, "/signin")}
        assert client.post(f"/api/me/webhooks/{hook.id}/test", headers=token).status_code == 429
        # Deleting is an ordinary write: still allowed.
        assert client.delete(f"/api/me/webhooks/{hook.id}", headers=token).status_code == 204
    assert _hooks(settings) == []
