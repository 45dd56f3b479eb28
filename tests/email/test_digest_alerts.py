"""Email alerts in digests, through a real SMTP server on loopback (SQLite and PostgreSQL):
the "From your follows" section, the alerts-only mail, once per paper, and crash safety."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.alerts.pipeline import run_matching
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.digests.render import DigestRenderer
from dailypapers.digests.schedule import schedule_period
from dailypapers.digests.send import SendStats, _claim, _prepare_chunk
from dailypapers.follows import follow, set_channels
from dailypapers.mail.mailer import open_mailer
from dailypapers.models import AlertDelivery, DigestSend, Follow, Paper, Subscription
from dailypapers.worker import Worker
from tests.factories import add_daily_paper, add_subscription, make_user
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.both_backends

PERIOD = "daily:2026-02-10"
NEXT = "daily:2026-02-11"
NOW = dt.datetime(2026, 2, 10, 6, tzinfo=dt.UTC)


@pytest.fixture
def factory(mail_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(mail_settings)
    yield make_session_factory(engine)
    engine.dispose()


def _paper(settings: Settings, arxiv_id: str, **fields: object) -> int:
    add_daily_paper(settings, arxiv_id=arxiv_id, feed_date=dt.date(2026, 2, 10), **fields)
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        paper_id = session.scalars(select(Paper.id).where(Paper.arxiv_id == arxiv_id)).one()
    engine.dispose()
    return paper_id


def _match(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        run_matching(session, NOW)


def _send(settings: Settings, factory: sessionmaker[Session], period: str = PERIOD) -> None:
    with factory.begin() as session:
        schedule_period(session, settings, period, dt.datetime.now(dt.UTC))
    Worker(settings, factory.kw["bind"], factory).run_once()


def _text(message: object) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[attr-defined, no-any-return]


def _html(message: object) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[attr-defined, no-any-return]


def _follow_three(factory: sessionmaker[Session], user_id: int, **kw: object) -> None:
    with factory.begin() as session:
        follow(session, user_id, "author", "Grace Hopper", NOW, **kw)  # type: ignore[arg-type]
        follow(session, user_id, "category", "cs.PL", NOW, **kw)  # type: ignore[arg-type]
        follow(session, user_id, "search", "compilers", NOW, **kw)  # type: ignore[arg-type]


def test_alerts_join_the_digest_once_and_a_listed_paper_is_not_repeated(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    reader = make_user(mail_settings, "reader")
    with factory.begin() as session:  # a digest to the account's verified address: theirs
        add_subscription(session, "reader@example.org", paper_count=5)
        add_subscription(session, "stranger@example.org", paper_count=5)
    _follow_three(factory, reader)
    quiet = _paper(
        mail_settings,
        "2602.90001",
        title="Compilers for everyone",
        abstract="We write compilers.",
        authors=("Grace Hopper",),
        categories=("cs.PL",),
        upvotes=0,
    )
    loud = _paper(
        mail_settings,
        "2602.90002",
        title="Loud compilers at the top",
        abstract="Compilers, loudly.",
        authors=("Grace Hopper",),
        categories=("cs.PL",),
        upvotes=5000,
    )
    _match(factory)
    _send(mail_settings, factory)
    mails = {str(m["To"]): m for m in smtp.messages}
    assert sorted(mails) == ["reader@example.org", "stranger@example.org"]
    assert len(smtp.messages) == 2  # one mail per subscriber, alerts inside
    text, html = _text(mails["reader@example.org"]), _html(mails["reader@example.org"])
    assert "From your follows" in text
    assert "From your follows" in html
    section = text[text.index("From your follows") :]
    assert "Compilers for everyone" in section
    for why in (
        "by Grace Hopper, whom you follow",
        "in cs.PL, which you follow",
        "matches your search “compilers”",
    ):
        assert why in section
        assert why in html
    # The loud paper is in the main list (top upvotes), so it is not repeated below.
    assert text.count("Loud compilers at the top") == 1
    assert text.index("Loud compilers at the top") < text.index("From your follows")
    assert "From your follows" not in _text(mails["stranger@example.org"])
    with factory() as session:
        mailed = set(
            session.scalars(
                select(AlertDelivery.paper_id).where(
                    AlertDelivery.user_id == reader, AlertDelivery.channel == "email"
                )
            )
        )
        assert mailed == {quiet, loud}  # both delivered by email, each once

    _send(mail_settings, factory)  # the same period again: nothing
    assert len(smtp.messages) == 2
    _send(mail_settings, factory, NEXT)  # the next day: a digest, without the alerts again
    later = [m for m in smtp.messages[2:] if str(m["To"]) == "reader@example.org"]
    assert len(later) == 1
    assert "Compilers for everyone" not in _text(later[0])
    assert "From your follows" not in _text(later[0])


def test_a_user_without_a_digest_gets_one_alerts_mail_and_email_off_mails_nothing(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    fan = make_user(mail_settings, "fan")
    quiet = make_user(mail_settings, "quiet")  # follows by feed only
    changed = make_user(mail_settings, "changed")  # turns email off after the match
    _follow_three(factory, fan)
    _follow_three(factory, quiet, channels=["feed"])
    _follow_three(factory, changed)
    _paper(
        mail_settings,
        "2602.90003",
        title="A compiler paper",
        authors=("Grace Hopper",),
        categories=("cs.PL",),
    )
    _match(factory)
    with factory.begin() as session:
        assert session.scalar(select(Subscription.id)) is None  # nothing before the schedule
        for row in session.scalars(select(Follow).where(Follow.user_id == changed)).all():
            set_channels(session, changed, row.id, ["feed"])
    _send(mail_settings, factory)
    assert [str(m["To"]) for m in smtp.messages] == ["fan@example.org"]
    (mail,) = smtp.messages
    assert "from your follows" in str(mail["Subject"])
    text = _text(mail)
    assert "A compiler paper" in text
    assert text.count("A compiler paper") == 1
    assert "matches your search “compilers”" in text
    assert "http://testserver/unsubscribe/" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with factory() as session:
        kinds = session.execute(
            select(Subscription.user_id, Subscription.kind, Subscription.email)
        ).all()
        states = dict(
            session.execute(
                select(Subscription.user_id, DigestSend.state).join(DigestSend.subscription)
            ).all()
        )
    # The stored match of "changed" still said email, so its mail was claimed, then found
    # nothing to carry by today's follows: skipped, never sent.
    assert [tuple(k) for k in kinds] == [
        (fan, "alerts", "fan@example.org"),
        (changed, "alerts", "changed@example.org"),
    ]
    assert states == {fan: "sent", changed: "skipped"}

    _send(mail_settings, factory)  # again: nothing
    _send(mail_settings, factory, NEXT)  # no new alerts the next day: no mail at all
    assert len(smtp.messages) == 1

    # Unsubscribing from the alerts mail is final: a new match mails nothing.
    with factory.begin() as session:
        row = session.scalars(select(Subscription).where(Subscription.user_id == fan)).one()
        row.unsubscribed_at = NOW
    _paper(mail_settings, "2602.90004", title="Another compiler", authors=("Grace Hopper",))
    _match(factory)
    _send(mail_settings, factory, "daily:2026-02-12")
    assert len(smtp.messages) == 1


def test_a_paper_matching_three_follows_across_two_digests_is_mailed_once(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    """Two digests of one user in one period (a trending and a topic one): the alerts ride
    on one of them only."""
    reader = make_user(mail_settings, "reader")
    with factory.begin() as session:
        add_subscription(session, "reader@example.org")
        add_subscription(session, "reader@example.org", topic="agents")
    _follow_three(factory, reader)
    _paper(
        mail_settings,
        "2602.90005",
        title="Three reasons to mail once",
        authors=("Grace Hopper",),
        categories=("cs.PL",),
        abstract="About compilers.",
        upvotes=0,
    )
    _match(factory)
    _send(mail_settings, factory)
    assert len(smtp.messages) == 2
    bodies = [_text(m) for m in smtp.messages]
    assert sum(body.count("Three reasons to mail once") for body in bodies) == 1


def _crash_setup(settings: Settings, factory: sessionmaker[Session]) -> list[int]:
    users = [make_user(settings, f"user{i}") for i in range(6)]
    with factory.begin() as session:
        for user_id in users[:3]:  # half with a digest, half alerts-only
            add_subscription(session, f"user{users.index(user_id)}@example.org")
    for user_id in users:
        _follow_three(factory, user_id)
    for n in range(3):
        _paper(
            settings,
            f"2602.9010{n}",
            title=f"Crash-proof compilers {n}",
            authors=("Grace Hopper",),
            categories=("cs.PL",),
            upvotes=0,
        )
    _match(factory)
    return users


def test_a_crash_after_freezing_or_in_flight_loses_nothing_and_repeats_nothing_else(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    settings = mail_settings.model_copy(update={"job_lease_seconds": 1})
    _crash_setup(settings, factory)
    with factory.begin() as session:
        schedule_period(session, settings, PERIOD, dt.datetime.now(dt.UTC))
    engine: Engine = factory.kw["bind"]
    with factory() as session:
        send_ids = list(session.scalars(select(DigestSend.id).order_by(DigestSend.id)))
    assert len(send_ids) == 6
    # A sender freezes the chunk (alerts claimed) and commits, claims the first row, hands
    # it to SMTP, and dies before recording it: the worst moment.
    renderer = DigestRenderer(settings)
    with session_scope(factory) as session:
        outgoing = _prepare_chunk(
            session, settings, renderer, PERIOD, send_ids, SendStats(), dt.datetime.now(dt.UTC)
        )
    assert len(outgoing) == 6
    first = outgoing[0]
    assert _claim(engine, settings, first, dt.datetime.now(dt.UTC))
    with open_mailer(settings) as mailer:
        mailer.send(first.message)
    # The worker comes back after the dead sender's lease: everything goes out, once.
    time.sleep(1.2)
    for _ in range(5):
        with factory.begin() as session:
            schedule_period(session, settings, PERIOD, dt.datetime.now(dt.UTC))
        Worker(settings, engine, factory).run_once()
        with factory() as session:
            if set(session.scalars(select(DigestSend.state))) == {"sent"}:
                break
        time.sleep(1.1)
    ids = Counter(str(m["Message-ID"]) for m in smtp.messages)
    assert len(ids) == 6
    assert sum(ids.values()) - len(ids) <= 1  # only the one in flight
    repeated = [mid for mid, count in ids.items() if count > 1]
    for message_id in repeated:  # the same content under the same id
        assert len({_text(m) for m in smtp.messages if m["Message-ID"] == message_id}) == 1
    by_user: Counter[str] = Counter()
    for message_id in ids:
        mail = next(m for m in smtp.messages if m["Message-ID"] == message_id)
        text = _text(mail)
        for n in range(3):
            if f"Crash-proof compilers {n}" in text:
                by_user[str(mail["To"])] += 1
    # Every user got each of the three papers exactly once (in a distinct message).
    assert by_user == Counter({f"user{i}@example.org": 3 for i in range(6)})
