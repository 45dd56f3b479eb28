"""Subscribing through the pages: double opt-in by mail, manage, sample, unsubscribe, limits."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.digests.schedule import schedule_period
from dailypapers.digests.subscriptions import CONFIRM_PURPOSE
from dailypapers.models import DigestSend, Job, Subscription
from dailypapers.signing import secret_key
from dailypapers.web.app import create_app
from dailypapers.worker import Worker
from tests.support.database import make_settings
from tests.support.smtp import SmtpRecorder
from tests.support.web_client import csrf_token

pytestmark = pytest.mark.both_backends


ADDRESS = "Reader@Example.org"
NORMALIZED = "Reader@example.org"  # the domain is case-insensitive; the local part is kept


@pytest.fixture
def client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings)) as client:
        yield client


def _run_worker(settings: Settings) -> None:
    engine = make_engine(settings)
    Worker(settings, engine, make_session_factory(engine)).run_once()
    engine.dispose()


def _subscriptions(settings: Settings) -> list[Subscription]:
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        rows = list(session.scalars(select(Subscription).order_by(Subscription.id)))
    engine.dispose()
    return rows


def _link(smtp: SmtpRecorder, pattern: str) -> str:
    text = smtp.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"http://testserver({pattern}\S+)", text)
    assert match, text
    return match[1]


def _subscribe(client: TestClient, **fields: str) -> object:
    form = {"email": ADDRESS, "cadence": "daily", "topic": "", "paper_count": ""} | fields
    return client.post("/subscribe", data=form | {"csrf_token": csrf_token(client)})


def test_double_opt_in_then_manage_and_unsubscribe_by_link(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    response = _subscribe(client, cadence="weekly", topic="agents", paper_count="7")
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    (subscription,) = _subscriptions(mail_settings)
    assert (subscription.email, subscription.email_key) == (NORMALIZED, ADDRESS.lower())
    assert (subscription.cadence, subscription.topic_query, subscription.paper_count) == (
        "weekly",
        "agents",
        7,
    )
    assert not subscription.active
    assert smtp.messages == []  # the mail is a job, sent by the worker

    _run_worker(mail_settings)
    (confirmation,) = smtp.messages
    assert confirmation["To"] == NORMALIZED
    assert "Confirm your weekly" in str(confirmation["Subject"])
    confirm_path = _link(smtp, "/subscribe/confirm/")

    # Following the link (what a mail scanner does) confirms nothing; the button does.
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert not _subscriptions(mail_settings)[0].active
    done = client.post(confirm_path, follow_redirects=False)
    assert done.status_code == 303
    manage = client.get(done.headers["location"])
    assert "Your subscription is confirmed" in manage.text
    assert _subscriptions(mail_settings)[0].active

    # Nothing but the confirmation was mailed before confirming; now digests go out.
    assert len(smtp.messages) == 1

    token = _subscriptions(mail_settings)[0].unsubscribe_token
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert _subscriptions(mail_settings)[0].unsubscribed_at is None  # GET changes nothing
    done = client.post(f"/unsubscribe/{token}")
    assert "You are unsubscribed" in done.text
    assert _subscriptions(mail_settings)[0].unsubscribed_at is not None


def test_one_click_unsubscribe_needs_no_cookie_and_is_idempotent(
    mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    with TestClient(create_app(mail_settings)) as client:
        _subscribe(client)
    token = _subscriptions(mail_settings)[0].unsubscribe_token
    # RFC 8058: the mail client POSTs this body to the List-Unsubscribe URL, with no cookies.
    with TestClient(create_app(mail_settings), cookies=None) as fresh:
        for _ in range(2):
            response = fresh.post(
                f"/unsubscribe/{token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200
        assert fresh.post("/unsubscribe/not-a-token").status_code == 404
    assert _subscriptions(mail_settings)[0].unsubscribed_at is not None


def test_an_unsubscribed_reader_is_not_sent_the_next_digest(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribe(client)
    _run_worker(mail_settings)
    confirm_path = _link(smtp, "/subscribe/confirm/")
    client.post(confirm_path)
    token = _subscriptions(mail_settings)[0].unsubscribe_token
    client.post(f"/unsubscribe/{token}")
    engine = make_engine(mail_settings)
    with make_session_factory(engine).begin() as session:
        assert (
            schedule_period(session, mail_settings, "daily:2026-02-10", dt.datetime.now(dt.UTC))
            == 0
        )
    engine.dispose()
    # And the old confirmation link cannot bring the subscription back.
    assert client.post(confirm_path).status_code == 400


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter your email address."),
        ("not-an-address", "This is not a valid email address"),
        ("two@@example.org", "This is not a valid email address"),
        ("reader@example.org\r\nBcc: victim@example.org", "This is not an email address."),
        ("reader@example.org>, victim@example.org", "This is not a valid email address"),
        ("x" * 300 + "@example.org", "This is not an email address."),
    ],
)
def test_a_malformed_address_is_refused_with_the_form_kept(
    client: TestClient, mail_settings: Settings, email: str, message: str
) -> None:
    response = _subscribe(client, email=email, topic="graph neural networks", paper_count="8")
    assert response.status_code == 400  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert message in text
    assert 'value="graph neural networks"' in text
    assert 'value="8"' in text
    assert _subscriptions(mail_settings) == []


def test_bad_cadence_count_and_topic_are_each_explained(client: TestClient) -> None:
    response = client.post(
        "/subscribe",
        data={
            "csrf_token": csrf_token(client),
            "email": "a@example.org",
            "cadence": "hourly",
            "topic": '"" -- **',
            "paper_count": "0",
        },
    )
    assert response.status_code == 400
    assert "Choose daily or weekly." in response.text
    assert "Choose between 1 and 50 papers." in response.text
    assert "The topic needs a word to search for or a filter" in response.text


def test_header_injection_in_a_topic_is_inert(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    topic = "agents\r\nBcc: victim@example.org\r\nSubject: free money"
    assert _subscribe(client, topic=topic).status_code == 200  # type: ignore[attr-defined]
    (subscription,) = _subscriptions(mail_settings)
    assert subscription.topic_query == "agents Bcc: victim@example.org Subject: free money"
    _run_worker(mail_settings)
    client.post(_link(smtp, "/subscribe/confirm/"))
    engine = make_engine(mail_settings)
    with make_session_factory(engine).begin() as session:
        schedule_period(session, mail_settings, "daily:2026-02-10", dt.datetime.now(dt.UTC))
    engine.dispose()
    _run_worker(mail_settings)
    for message in smtp.messages:
        assert message["Bcc"] is None
        assert len(message.get_all("Subject") or []) == 1
    assert "victim" not in "".join(
        str(v) for m in smtp.messages for k, v in m.items() if k != "Subject"
    )


def test_the_same_answer_whether_or_not_an_address_is_subscribed(
    client: TestClient, mail_settings: Settings
) -> None:
    first = _subscribe(client)
    again = _subscribe(client)
    other = _subscribe(client, email="someone.else@example.org")

    def body(response: object) -> str:
        text = response.text  # type: ignore[attr-defined]
        return text.replace(NORMALIZED, "X").replace("someone.else@example.org", "X")

    assert body(first) == body(again) == body(other)


def test_subscribing_is_rate_limited_per_address(
    client: TestClient, mail_settings: Settings
) -> None:
    for _ in range(3):
        assert _subscribe(client).status_code == 200  # type: ignore[attr-defined]
    refused = _subscribe(client)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "at most 3 per day" in refused.text  # type: ignore[attr-defined]
    assert int(refused.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    engine = make_engine(mail_settings)
    with make_session_factory(engine)() as session:
        mails = session.scalars(
            select(Job).where(Job.kind == "send_subscription_confirmation")
        ).all()
    engine.dispose()
    assert len(mails) == 1  # one pending confirmation per address: the dedupe of the queue
    # Another address from the same client still works (the per-IP limit is higher).
    assert _subscribe(client, email="b@example.org").status_code == 200  # type: ignore[attr-defined]


def test_subscribing_is_rate_limited_per_client_address(mail_settings: Settings) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        subscribe_limit_per_ip="2/hour",
        trusted_proxies=["testclient"],
    )
    with TestClient(create_app(settings)) as client:
        for i in range(2):
            assert _subscribe(client, email=f"r{i}@example.org").status_code == 200  # type: ignore[attr-defined]
        assert _subscribe(client, email="r9@example.org").status_code == 429  # type: ignore[attr-defined]
        # Behind a trusted proxy, the forwarded client is the one counted.
        forwarded = client.post(
            "/subscribe",
            data={"email": "r10@example.org", "cadence": "daily", "csrf_token": csrf_token(client)},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert forwarded.status_code == 200


def test_send_me_a_sample_now(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribe(client)
    _run_worker(mail_settings)
    done = client.post(_link(smtp, "/subscribe/confirm/"), follow_redirects=False)
    manage_path = done.headers["location"].split("?")[0]
    response = client.post(
        f"{manage_path}/sample", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    _run_worker(mail_settings)
    sample = smtp.messages[-1]
    assert str(sample["Subject"]).startswith("[Sample] Daily Papers · Friday, February 27, 2026")
    assert "This is a sample of your daily digest" in sample.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    engine = make_engine(mail_settings)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(DigestSend)).all() == []  # a sample claims no period
    engine.dispose()


def test_the_manage_page_changes_topic_and_keeps_bad_input(
    client: TestClient, mail_settings: Settings
) -> None:
    _subscribe(client)
    token = _subscriptions(mail_settings)[0].unsubscribe_token
    bad = client.post(
        f"/subscriptions/{token}",
        data={
            "cadence": "weekly",
            "topic": "x" * 400,
            "paper_count": "3",
            "csrf_token": csrf_token(client),
        },
    )
    assert bad.status_code == 400
    assert "Keep the topic under 300 characters." in bad.text
    assert "x" * 400 in bad.text
    ok = client.post(
        f"/subscriptions/{token}",
        data={
            "cadence": "weekly",
            "topic": "diffusion",
            "paper_count": "3",
            "csrf_token": csrf_token(client),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    (subscription,) = _subscriptions(mail_settings)
    assert (subscription.cadence, subscription.topic_query, subscription.paper_count) == (
        "weekly",
        "diffusion",
        3,
    )
    assert client.get("/subscriptions/unknown").status_code == 404


def test_an_altered_or_expired_confirmation_link_is_refused(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribe(client)
    _run_worker(mail_settings)
    path = _link(smtp, "/subscribe/confirm/")
    altered = client.post(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert altered.status_code == 400
    assert "not valid" in altered.text
    (subscription,) = _subscriptions(mail_settings)

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    old = URLSafeTimedSerializer(
        secret_key(mail_settings), salt=CONFIRM_PURPOSE, signer=EightDaysAgo
    ).dumps([subscription.id, subscription.unsubscribe_token])
    expired = client.post(f"/subscribe/confirm/{old}")
    assert expired.status_code == 400
    assert "This link has expired" in expired.text
    assert not _subscriptions(mail_settings)[0].active


def test_sending_the_form_again_keeps_the_first_link_working(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    _subscribe(client)
    _run_worker(mail_settings)
    first_link = _link(smtp, "/subscribe/confirm/")
    _subscribe(client)
    _run_worker(mail_settings)
    assert client.post(first_link, follow_redirects=False).status_code == 303


def test_plus_aliases_share_the_per_address_limit(client: TestClient) -> None:
    codes = [_subscribe(client, email=f"victim+{i}@example.org").status_code for i in range(4)]  # type: ignore[attr-defined]
    assert codes == [200, 200, 200, 429]


def test_an_internationalized_domain_is_stored_in_ascii(
    client: TestClient, mail_settings: Settings, smtp: SmtpRecorder
) -> None:
    assert _subscribe(client, email="leser@bücher.example").status_code == 200  # type: ignore[attr-defined]
    _run_worker(mail_settings)
    assert [str(m["To"]) for m in smtp.messages] == ["leser@xn--bcher-kva.example"]
