"""The rendered digest, both parts, against a stored snapshot (``pytest --snapshot-update``
rewrites it after a deliberate change; review the diff like code)."""

from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header

import pytest
from sqlalchemy.orm import Session
from syrupy.assertion import SnapshotAssertion

from dailypapers.config import Settings
from dailypapers.digests.compose import PeriodComposer, load_papers
from dailypapers.digests.render import DigestRenderer as MailRenderer
from dailypapers.mail.render import one_line
from dailypapers.models import Subscription

pytestmark = pytest.mark.both_backends


NOW = dt.datetime(2026, 2, 11, 7, 0, tzinfo=dt.UTC)


def _subscription(**fields: object) -> Subscription:
    values: dict[str, object] = {
        "id": 42,
        "email": "reader@example.org",
        "email_key": "reader@example.org",
        "cadence": "daily",
        "topic_query": "",
        "paper_count": 3,
        "unsubscribe_token": "TOKEN",
    }
    values.update(fields)
    return Subscription(**values)


@pytest.mark.sqlite_only  # one snapshot; test_send covers topics on PostgreSQL
def test_a_rendered_digest_matches_its_snapshot(
    demo_session: Session, demo_settings: Settings, snapshot: SnapshotAssertion
) -> None:
    subscription = _subscription()
    composer = PeriodComposer(demo_session, demo_settings, "daily:2026-02-10")
    digest = composer.compose(subscription, ())
    papers = load_papers(demo_session, digest.paper_ids)
    renderer = MailRenderer(demo_settings)
    parts = renderer.digest(
        subscription,
        period_key="daily:2026-02-10",
        period_label=composer.label,
        papers=[papers[i] for i in digest.paper_ids],
        note=digest.note,
    )
    message = renderer.message(
        parts,
        to=subscription.email,
        message_id=renderer.digest_message_id(subscription.id, "daily:2026-02-10"),
        headers=renderer.list_headers(subscription),
        now=NOW,
    )
    headers = {name: str(make_header(decode_header(value))) for name, value in message.items()}
    assert headers == snapshot(name="headers")
    assert parts.text == snapshot(name="text")
    assert parts.html == snapshot(name="html")


@pytest.mark.sqlite_only
def test_an_empty_digest_renders_its_note(
    demo_settings: Settings, snapshot: SnapshotAssertion
) -> None:
    renderer = MailRenderer(demo_settings)
    parts = renderer.digest(
        _subscription(topic_query="graph <b>neural</b> & networks"),
        period_key="daily:2026-02-14",
        period_label="Saturday, February 14, 2026",
        papers=[],
        note="Saturday, February 14, 2026 is a weekend: the list is published on weekdays.",
    )
    assert "graph &lt;b&gt;neural&lt;/b&gt; &amp; networks" in parts.html  # escaped in HTML
    assert "graph <b>neural</b> & networks" in parts.text  # plain in text
    assert parts.subject == snapshot(name="subject")
    assert parts.text == snapshot(name="text")


def test_header_text_is_kept_on_one_line() -> None:
    assert one_line("a\r\nBcc: x@y\u2028z\x00") == "a Bcc: x@y z"
