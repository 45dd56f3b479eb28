"""Webhook deliveries end to end: queue_alert on real stored papers, the real worker loop, a
real receiver on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE on), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.alerts import AlertItem
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.jobs import ACCOUNT_MAIL_JOB, PENDING_STATES, WEBHOOK_JOB, WEBHOOK_TEST_JOB
from dailypapers.models import Job, Paper, User, Webhook, WebhookDelivery
from dailypapers.webhooks import delivery, service
from dailypapers.webhooks.signature import verify
from dailypapers.worker import Worker, WorkerStats
from tests.factories import make_user
from tests.support.database import make_settings
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.both_backends
KINDS = (WEBHOOK_JOB, WEBHOOK_TEST_JOB)


@pytest.fixture
def hook_settings(demo_settings: Settings) -> Settings:
    return make_settings(
        demo_settings.data_dir,
        database_url=demo_settings.database_url,
        webhook_allow_private=True,
        job_max_attempts=3,
        job_retry_base_seconds=0.01,
        job_retry_cap_seconds=0.02,
        webhook_disable_after_failures=2,
        webhook_timeout_seconds=5,
    )


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(settings))


def _add_hook(settings: Settings, user_id: int, url: str) -> tuple[int, str]:
    factory = _factory(settings)
    with session_scope(factory, write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        hook = service.create_webhook(
            session, settings, user, service.check_target(settings, url), dt.datetime.now(dt.UTC)
        )
        return hook.id, hook.secret


def _papers(session: Session, n: int = 2) -> list[Paper]:
    return list(session.scalars(select(Paper).order_by(Paper.id).limit(n)))


def _alert(settings: Settings, user_id: int, items: list[AlertItem]) -> int:
    with session_scope(_factory(settings), write=True) as session:
        return service.queue_alert(session, user_id, items)


def _drain(settings: Settings) -> WorkerStats:
    """Run the real worker until no webhook job is pending (retries wait a few ms)."""
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    worker = Worker(settings, engine, factory, handlers=delivery.HANDLERS)
    total = WorkerStats()
    for _ in range(500):
        stats = worker.run_once()
        total.done += stats.done
        total.retried += stats.retried
        total.failed += stats.failed
        with factory() as session:
            pending = session.scalar(
                select(Job.id).where(Job.kind.in_(KINDS), Job.state.in_(PENDING_STATES)).limit(1)
            )
        if pending is None:
            break
        time.sleep(0.01)
    engine.dispose()
    return total


def _log(settings: Settings, hook_id: int) -> list[WebhookDelivery]:
    with _factory(settings)() as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook_id)
                .order_by(WebhookDelivery.id)
            )
        )


def _items(settings: Settings) -> tuple[list[AlertItem], list[Paper]]:
    with _factory(settings)() as session:
        papers = _papers(session)
        session.expunge_all()
    items = [
        AlertItem(papers[0].id, ("by Ada Lovelace, whom you follow", "matches your search “x”")),
        AlertItem(papers[1].id, ("in cs.LG, which you follow",)),
    ]
    return items, papers


def _hmac_ok(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check as docs/webhooks.md writes it, independent of our own helper."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    assert abs(time.time() - int(fields["t"])) <= 300
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_a_receiver_verifies_the_signature_over_the_exact_body(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    items, papers = _items(hook_settings)
    with receiver() as server:
        hook_id, secret = _add_hook(hook_settings, user_id, server.url("/in?k=1"))
        assert _alert(hook_settings, user_id, items) == 1
        assert _drain(hook_settings).done == 1
        (got,) = server.requests
    assert got.path == "/in?k=1"
    assert got.headers["X-Dailypapers-Event"] == "alert"
    assert _hmac_ok(secret, got.headers["X-Dailypapers-Signature"], got.body)
    assert verify(secret, got.headers["X-Dailypapers-Signature"], got.body)
    assert not verify(secret, got.headers["X-Dailypapers-Signature"], got.body + b" ")
    assert not verify("whsec_other", got.headers["X-Dailypapers-Signature"], got.body)
    late = time.time() + 301
    assert not verify(secret, got.headers["X-Dailypapers-Signature"], got.body, now=late)
    document = json.loads(got.body)
    assert document["event"] == "alert"
    assert document["delivery"] == got.headers["X-Dailypapers-Delivery"]
    assert [p["id"] for p in document["papers"]] == [papers[0].arxiv_id, papers[1].arxiv_id]
    first = document["papers"][0]
    assert first["title"] == papers[0].title
    assert first["authors"] == papers[0].author_names
    assert first["url"] == f"http://testserver/papers/{papers[0].arxiv_id}"
    assert first["reasons"] == list(items[0].reasons)
    (row,) = _log(hook_settings, hook_id)
    assert (row.status_code, row.error, row.attempt, row.paper_count) == (200, None, 1, 2)
    assert row.body_bytes == len(got.body)


def test_500_twice_then_200_is_retried_and_delivered_once(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    items, _ = _items(hook_settings)
    with receiver(500, 500) as server:
        hook_id, _secret = _add_hook(hook_settings, user_id, server.url())
        _alert(hook_settings, user_id, items)
        stats = _drain(hook_settings)
        deliveries = {r.headers["X-Dailypapers-Delivery"] for r in server.requests}
        bodies = {r.body for r in server.requests}
    assert (stats.retried, stats.done, stats.failed) == (2, 1, 0)
    assert len(deliveries) == 1
    assert len(bodies) == 1
    log = _log(hook_settings, hook_id)
    assert [(r.attempt, r.status_code) for r in log] == [(1, 500), (2, 500), (3, 200)]
    assert log[0].error is not None
    assert log[0].error.startswith("HTTP 500: <h1>broken</h1>")
    assert len(log[0].error) <= delivery.MAX_ERROR_CHARS
    with _factory(hook_settings)() as session:
        hook = session.get(Webhook, hook_id)
        assert hook is not None
        assert hook.active
        assert hook.consecutive_failures == 0


def test_consecutive_failed_deliveries_disable_the_hook_and_tell_the_owner(
    hook_settings: Settings,
) -> None:
    user_id = make_user(hook_settings, "ada")
    items, _ = _items(hook_settings)
    with receiver(*[503] * 6, 302) as server:
        hook_id, _ = _add_hook(hook_settings, user_id, server.url())
        for item in items:  # two deliveries, three attempts each, all failing
            _alert(hook_settings, user_id, [item])
            _drain(hook_settings)
        assert len(server.requests) == 6
        # Disabled: a later alert queues nothing and the receiver hears nothing more.
        assert _alert(hook_settings, user_id, items) == 0
        _drain(hook_settings)
        assert len(server.requests) == 6
    with _factory(hook_settings)() as session:
        hook = session.get(Webhook, hook_id)
        assert hook is not None
        assert not hook.active
        assert hook.disabled_at is not None
        assert hook.disabled_reason == "2 deliveries in a row failed every attempt."
        mail = session.scalars(select(Job).where(Job.kind == ACCOUNT_MAIL_JOB)).all()
        notices = [job for job in mail if job.payload["template"] == "webhook_disabled"]
        assert len(notices) == 1
        assert notices[0].payload["url"] == "http://testserver/account/webhooks"
        user = session.get(User, user_id)
        assert user is not None
        service.enable_webhook(session, user, hook_id)
        session.commit()
        assert hook.active
        assert hook.consecutive_failures == 0
        assert hook.disabled_reason is None


def test_a_success_resets_the_failure_count(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    items, _ = _items(hook_settings)
    with receiver(500, 500, 500) as server:
        hook_id, _ = _add_hook(hook_settings, user_id, server.url())
        _alert(hook_settings, user_id, [items[0]])
        _drain(hook_settings)
        with _factory(hook_settings)() as session:
            assert session.get(Webhook, hook_id).consecutive_failures == 1  # type: ignore[union-attr]
        _alert(hook_settings, user_id, [items[1]])
        _drain(hook_settings)
    with _factory(hook_settings)() as session:
        hook = session.get(Webhook, hook_id)
        assert hook is not None
        assert hook.active
        assert hook.consecutive_failures == 0


def test_send_test_is_one_attempt_and_never_disables(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    with receiver(500, 500, 500, 200) as server:
        hook_id, secret = _add_hook(hook_settings, user_id, server.url())
        factory = _factory(hook_settings)
        for _ in range(3):
            with session_scope(factory, write=True) as session:
                user = session.get(User, user_id)
                assert user is not None
                service.send_test(session, user, hook_id, dt.datetime.now(dt.UTC))
            _drain(hook_settings)
        assert len(server.requests) == 3  # no retries of a test
        got = server.requests[0]
        assert got.headers["X-Dailypapers-Event"] == "test"
        assert _hmac_ok(secret, got.headers["X-Dailypapers-Signature"], got.body)
        assert json.loads(got.body)["papers"] == []
    log = _log(hook_settings, hook_id)
    assert [(r.event, r.status_code, r.attempt) for r in log] == [("test", 500, 1)] * 3
    with factory() as session:
        hook = session.get(Webhook, hook_id)
        assert hook is not None
        assert hook.active
        assert hook.consecutive_failures == 0


def test_a_redirect_is_not_followed(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    items, _ = _items(hook_settings)
    with receiver(302, 302, 302) as server:
        hook_id, _ = _add_hook(hook_settings, user_id, server.url())
        _alert(hook_settings, user_id, items)
        _drain(hook_settings)
        assert len(server.requests) == 3
    errors = {row.error for row in _log(hook_settings, hook_id)}
    assert errors == {"HTTP 302: redirects are not followed (to http://10.0.0.1/internal)."}


def test_dns_rebinding_is_refused_at_delivery_time(hook_settings: Settings) -> None:
    """Registered while the name resolved to a public address; at delivery it resolves to
    127.0.0.1: refused without connecting, even though the receiver is there."""
    strict = hook_settings.model_copy(update={"webhook_allow_private": False})
    user_id = make_user(strict, "ada")
    items, _ = _items(strict)
    with receiver() as server:
        factory = _factory(strict)
        url = f"http://rebind.example:{server.port}/hook"
        public = service.check_target(strict, url, resolver=lambda host, port: ["93.184.216.34"])
        with session_scope(factory, write=True) as session:
            user = session.get(User, user_id)
            assert user is not None
            hook_id = service.create_webhook(
                session, strict, user, public, dt.datetime.now(dt.UTC)
            ).id
        _alert(strict, user_id, items)
        engine = make_engine(strict)
        handler = lambda context, payload: delivery.deliver(  # noqa: E731
            context, payload, resolver=lambda host, port: ["127.0.0.1"]
        )
        worker = Worker(
            strict, engine, make_session_factory(engine), handlers={WEBHOOK_JOB: handler}
        )
        for _ in range(100):
            worker.run_once()
            if len(_log(strict, hook_id)) == 3:
                break
            time.sleep(0.01)
        engine.dispose()
        assert server.requests == []
    log = _log(strict, hook_id)
    assert len(log) == 3
    assert log[0].error == (
        "Refused: rebind.example resolves to 127.0.0.1, a loopback address: "
        "webhooks can only reach public addresses."
    )


def test_the_secret_never_reaches_a_log(
    hook_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user_id = make_user(hook_settings, "ada")
    items, _ = _items(hook_settings)
    with receiver(500, 500, 500) as server:
        hook_id, secret = _add_hook(hook_settings, user_id, server.url())
        _alert(hook_settings, user_id, items)
        _drain(hook_settings)
        assert server.requests
    assert "failed: WebhookDeliveryError: HTTP 500" in caplog.text  # the worker did log
    assert secret not in caplog.text
    assert secret[len("whsec_") :] not in caplog.text
    with _factory(hook_settings)() as session:
        for job in session.scalars(select(Job).where(Job.kind == WEBHOOK_JOB)):
            assert secret not in json.dumps(job.payload) + (job.last_error or "")
        assert all(secret not in (row.error or "") for row in _log(hook_settings, hook_id))


def test_the_log_keeps_the_last_rows_of_each_hook(hook_settings: Settings) -> None:
    user_id = make_user(hook_settings, "ada")
    with receiver() as server:
        hook_id, _ = _add_hook(hook_settings, user_id, server.url())
        factory = _factory(hook_settings)
        with session_scope(factory, write=True) as session:
            for n in range(delivery.DELIVERY_LOG_KEEP + 5):
                session.add(
                    WebhookDelivery(
                        webhook_id=hook_id,
                        delivery_id=f"old-{n}",
                        event="test",
                        attempt=1,
                        paper_count=0,
                        body_bytes=0,
                        duration_ms=0,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
        items, _ = _items(hook_settings)
        _alert(hook_settings, user_id, items)
        _drain(hook_settings)
    log = _log(hook_settings, hook_id)
    assert len(log) == delivery.DELIVERY_LOG_KEEP
    assert log[-1].event == "alert"
    assert log[0].delivery_id == "old-6"


def test_queue_alert_skips_other_users_and_disabled_hooks(hook_settings: Settings) -> None:
    ada = make_user(hook_settings, "ada")
    bob = make_user(hook_settings, "bob")
    items, _ = _items(hook_settings)
    _add_hook(hook_settings, ada, "http://127.0.0.1:9/a")
    second, _ = _add_hook(hook_settings, ada, "http://127.0.0.1:9/b")
    _add_hook(hook_settings, bob, "http://127.0.0.1:9/c")
    with session_scope(_factory(hook_settings), write=True) as session:
        hook = session.get(Webhook, second)
        assert hook is not None
        hook.active = False
    assert _alert(hook_settings, ada, []) == 0
    assert _alert(hook_settings, ada, items) == 1
    assert _alert(hook_settings, ada, items) == 1  # the same papers still pending: one job
    many = [AlertItem(p, ("r",)) for p in range(1, 1 + service.MAX_PAPERS_PER_DELIVERY + 1)]
    assert _alert(hook_settings, ada, many) == 2
    with _factory(hook_settings)() as session:
        queued = session.scalars(select(Job).where(Job.kind == WEBHOOK_JOB)).all()
    assert len(queued) == 3
    assert {job.payload["webhook_id"] for job in queued} == {second - 1}
