"""Delivering digests through a real SMTP server on loopback: once each, retries, refusals."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.digests.compose import PeriodComposer
from dailypapers.digests.schedule import schedule_due_digests, schedule_period
from dailypapers.digests.send import send_chunk
from dailypapers.jobs import DIGEST_SCHEDULE_JOB as SCHEDULE_JOB
from dailypapers.library import marks, saves
from dailypapers.models import (
    DailyEntry,
    DigestReceived,
    DigestSend,
    Job,
    Paper,
    Subscription,
    User,
)
from dailypapers.worker import Worker
from tests.factories import add_subscription, make_user
from tests.support.database import make_settings
from tests.support.queries import QueryCounter
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.both_backends


PERIOD = "daily:2026-02-10"
UPVOTE_LINE = re.compile(r"▲ \d+ upvotes?((?: · \w+)*)")


def _is_search(statement: str) -> bool:
    """A lexical search statement: FTS5's MATCH on SQLite, the tsvector's @@ on PostgreSQL."""
    return "MATCH" in statement or "search_document @@" in statement


@pytest.fixture
def mail_engine(mail_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(mail_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(mail_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(mail_engine)


def _subscribe(factory: sessionmaker[Session], *addresses: str, **fields: object) -> list[int]:
    with factory.begin() as session:
        return [add_subscription(session, a, **fields).id for a in addresses]  # type: ignore[arg-type]


def _send(settings: Settings, factory: sessionmaker[Session], period: str = PERIOD) -> int:
    with factory.begin() as session:
        claimed = schedule_period(session, settings, period, dt.datetime.now(dt.UTC))
    Worker(settings, factory.kw["bind"], factory).run_once()
    return claimed


def _drain(settings: Settings, factory: sessionmaker[Session], rounds: int = 20) -> None:
    """Run the worker until no job it can run is queued (retries are due within ~50 ms here;
    the demo month's embedding jobs wait for the search issue)."""
    for _ in range(rounds):
        Worker(settings, factory.kw["bind"], factory).run_once()
        with factory() as session:
            waiting = select(Job.id).where(
                Job.state.in_(("queued", "running")), Job.kind != "embed_paper"
            )
            if session.scalar(waiting) is None:
                return
        time.sleep(0.06)
    raise AssertionError("jobs still queued")


def _period_papers(settings: Settings, factory: sessionmaker[Session]) -> list[Paper]:
    with factory() as session:
        ids = PeriodComposer(session, settings, PERIOD).trending_ids()
        by_id = {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(ids)))}
        session.expunge_all()
    return [by_id[i] for i in ids]


def test_a_period_reaches_every_active_subscriber_once(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    active = _subscribe(factory, "a@example.org", "b@example.org", "c@example.org")
    _subscribe(factory, "pending@example.org", confirmed=False)
    with factory.begin() as session:
        gone = add_subscription(session, "gone@example.org")
        gone.unsubscribed_at = dt.datetime(2026, 2, 5, tzinfo=dt.UTC)
        weekly = add_subscription(session, "weekly@example.org", cadence="weekly")
        assert weekly.id

    assert _send(mail_settings, factory) == 3
    assert sorted(str(m["To"]) for m in smtp.messages) == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]
    ids = {str(m["Message-ID"]) for m in smtp.messages}
    assert ids == {f"<digest.daily.2026-02-10.s{i}@testserver>" for i in active}

    # Scheduling and running the period again sends nothing more.
    assert _send(mail_settings, factory) == 0
    assert len(smtp.messages) == 3
    with factory() as session:
        states = session.scalars(select(DigestSend.state)).all()
        assert states == ["sent", "sent", "sent"]
        received = session.scalars(
            select(DigestReceived.paper_id).where(DigestReceived.subscription_id == active[0])
        ).all()
    top = [p.id for p in _period_papers(mail_settings, factory)[:5]]
    assert sorted(received) == sorted(top)


def test_a_digest_message_has_both_parts_and_one_click_unsubscribe(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "reader@example.org")
    _send(mail_settings, factory)
    (message,) = smtp.messages
    with factory() as session:
        token = session.scalars(select(Subscription.unsubscribe_token)).one()
    assert str(message["List-Unsubscribe"]).strip() == f"<http://testserver/unsubscribe/{token}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    top = _period_papers(mail_settings, factory)[0]
    for part in (text, html):
        assert top.title.split()[0] in part
        assert f"http://testserver/papers/{top.arxiv_id}" in part
        assert f"http://testserver/unsubscribe/{token}" in part
    assert "<style" not in html
    assert "class=" not in html
    assert 'width="600"' in html
    assert "max-width:600px" in html
    assert 'href="/' not in html  # every link absolute


def test_a_digest_marks_what_its_reader_saved_opened_read_or_was_mailed(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    """The subscription of an account shows its reader's marks, in both parts; another
    subscriber's mail of the same papers shows none."""
    reader = make_user(mail_settings, "reader")
    top = _period_papers(mail_settings, factory)[:5]
    now = dt.datetime.now(dt.UTC)
    with factory.begin() as session:
        user = session.get(User, reader)
        assert user is not None
        mine = add_subscription(session, "reader-digest@example.org", paper_count=5)
        mine.user_id = reader
        earlier = add_subscription(session, "reader-other@example.org", confirmed=False)
        earlier.user_id = reader
        session.flush()
        session.add(DigestReceived(subscription_id=earlier.id, paper_id=top[3].id))
        saves.save(session, user, top[0].id, now)
        marks.mark_opened(session, user, top[1].id, now)
        marks.set_mark(session, user, top[2].id, "read", on=True, now=now)
        saves.save(session, user, top[2].id, now)
    _subscribe(factory, "stranger@example.org")
    _send(mail_settings, factory)
    by_address = {str(m["To"]): m for m in smtp.messages}
    assert set(by_address) == {"reader-digest@example.org", "stranger@example.org"}
    expected = [["saved"], ["seen"], ["saved", "read"], ["seen"], []]
    for address, wanted in (
        ("reader-digest@example.org", expected),
        ("stranger@example.org", [[]] * 5),
    ):
        message = by_address[address]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        lines = [line.strip() for line in text.splitlines() if line.strip().startswith("▲")]
        shown = [UPVOTE_LINE.fullmatch(line)[1].split(" · ")[1:] for line in lines]  # type: ignore[index]
        assert shown == wanted, lines
        for word in ("saved", "read", "seen"):
            assert html.count(f"<strong>{word}</strong>") == sum(word in w for w in wanted), word


def test_a_mailto_unsubscribe_only_when_an_inbound_address_is_set(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port=mail_settings.smtp_port,
        mail_unsubscribe_address="leave@lists.example.org",
    )
    _subscribe(factory, "reader@example.org")
    _send(settings, factory)
    header = str(smtp.messages[0]["List-Unsubscribe"]).strip()
    assert header.startswith("<http://testserver/unsubscribe/")
    assert "<mailto:leave@lists.example.org?subject=unsubscribe%20" in header


def test_papers_already_received_are_never_sent_again(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    (subscription_id,) = _subscribe(factory, "reader@example.org", paper_count=3)
    papers = _period_papers(mail_settings, factory)
    with factory.begin() as session:
        for paper in papers[:2]:
            session.add(DigestReceived(subscription_id=subscription_id, paper_id=paper.id))
    _send(mail_settings, factory)
    text = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert papers[0].title not in text
    assert papers[1].title not in text
    for paper in papers[2:5]:
        assert paper.title[:40] in " ".join(text.split())


def test_temporary_refusals_are_retried_then_delivered_once(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "reader@example.org")
    smtp.data_replies = ["451 4.3.0 Try again later", "421 4.7.0 Closing, try later"]
    with factory.begin() as session:
        schedule_period(session, mail_settings, PERIOD, dt.datetime.now(dt.UTC))
    _drain(mail_settings, factory)
    assert len(smtp.messages) == 1
    with factory() as session:
        send = session.scalars(select(DigestSend)).one()
        states = session.scalars(select(Job.state).where(Job.kind == "send_digest")).all()
    assert (send.state, send.attempts) == ("sent", 3)
    assert states == ["done", "done", "done"]  # the chunk, then two follow-ups with backoff


def test_a_permanent_refusal_fails_one_recipient_and_not_the_others(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "a@example.org", "bad@example.org", "c@example.org")
    smtp.rcpt_replies["bad@example.org"] = "550 5.1.1 No such user here"
    _send(mail_settings, factory)
    assert sorted(str(m["To"]) for m in smtp.messages) == ["a@example.org", "c@example.org"]
    with factory() as session:
        failed = session.scalars(select(DigestSend).where(DigestSend.state == "failed")).one()
        assert "550" in (failed.last_error or "")
        assert failed.subscription.hard_failures == 1
        assert failed.subscription.deactivated_at is None
        job = session.scalars(select(Job).where(Job.kind == "send_digest")).one()
        assert job.state == "done"  # a 5xx is final: no retry of the whole chunk


def test_repeated_hard_failures_deactivate_a_subscription(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "bad@example.org")
    smtp.rcpt_replies["bad@example.org"] = "550 5.1.1 No such user here"
    for day in ("2026-02-09", "2026-02-10", "2026-02-11"):
        assert _send(mail_settings, factory, f"daily:{day}") == 1
    with factory() as session:
        subscription = session.scalars(select(Subscription)).one()
        assert subscription.deactivated_at is not None
        assert subscription.hard_failures == 3
    assert _send(mail_settings, factory, "daily:2026-02-12") == 0
    assert smtp.messages == []


@pytest.mark.parametrize(("policy", "expected"), [("note", 1), ("skip", 0)])
def test_an_empty_period_sends_a_note_or_nothing(
    mail_settings: Settings,
    factory: sessionmaker[Session],
    smtp: SmtpRecorder,
    policy: str,
    expected: int,
) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port=mail_settings.smtp_port,
        digest_empty_period=policy,
    )
    _subscribe(factory, "reader@example.org")
    _send(settings, factory, "daily:2026-02-14")  # a Saturday
    assert len(smtp.messages) == expected
    if expected:
        text = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "is a weekend: the list is published on weekdays" in text
        assert "no new papers" in str(smtp.messages[0]["Subject"])
    with factory() as session:
        assert session.scalars(select(DigestSend.state)).one() == (
            "sent" if expected else "skipped"
        )


def test_topic_digests_search_each_distinct_query_once(
    mail_settings: Settings, factory: sessionmaker[Session], mail_engine: Engine
) -> None:
    with factory.begin() as session:
        subs = [
            add_subscription(session, f"r{i}@example.org", topic="reasoning", paper_count=50)
            for i in range(3)
        ] + [
            add_subscription(session, f"a{i}@example.org", topic='"video generation"')
            for i in range(2)
        ]
        for sub in subs:
            session.expunge(sub)
    with factory() as session, QueryCounter(mail_engine) as counter:
        composer = PeriodComposer(session, mail_settings, "weekly:2026-W07")
        digests = composer.compose_many(subs)
        searches = [s for s in counter.statements if _is_search(s)]
        assert len(searches) == 2
        reasoning = session.scalars(
            select(Paper).where(Paper.id.in_(digests[subs[0].id].paper_ids))
        ).all()
    assert reasoning
    assert all("reason" in (p.title + p.abstract + p.authors_text).lower() for p in reasoning)
    upvotes = [
        p.upvotes
        for p in sorted(reasoning, key=lambda p: digests[subs[0].id].paper_ids.index(p.id))
    ]
    assert upvotes == sorted(upvotes, reverse=True)
    assert digests[subs[0].id] == digests[subs[1].id]
    assert len(digests[subs[3].id].paper_ids) <= 5


def test_a_topic_with_no_match_says_so(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "reader@example.org", topic="zyzzyvaquux")
    _send(mail_settings, factory)
    text = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "No new papers matched “zyzzyvaquux”" in text


def test_digests_are_scheduled_at_their_local_time(
    mail_settings: Settings, factory: sessionmaker[Session]
) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        digest_enabled=True,
        today=None,  # the injected clock decides the day
        timezone="Europe/Paris",
        digest_daily_time="08:00",
        digest_weekly_day=1,
    )
    monday = dt.datetime(2026, 2, 16, 6, 30, tzinfo=dt.UTC)  # 07:30 in Paris
    for _ in range(2):
        with factory.begin() as session:
            schedule_due_digests(session, settings, monday)
    with factory() as session:
        scheduled = session.scalars(select(Job).where(Job.kind == SCHEDULE_JOB)).all()
    assert sorted(job.payload["period"] for job in scheduled) == [
        "daily:2026-02-13",  # Monday's daily digest carries Friday
        "weekly:2026-W07",
    ]
    assert all(job.run_after == dt.datetime(2026, 2, 16, 7, 0, tzinfo=dt.UTC) for job in scheduled)
    with factory.begin() as session:
        schedule_due_digests(session, settings, dt.datetime(2026, 2, 21, 9, tzinfo=dt.UTC))
        saturday = session.scalars(select(Job).where(Job.kind == SCHEDULE_JOB)).all()
    assert len(saturday) == 2  # nothing on a Saturday


def test_the_scheduled_job_claims_the_period_and_the_worker_sends_it(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port=mail_settings.smtp_port,
        digest_enabled=True,
        today=None,
    )
    _subscribe(factory, "reader@example.org")
    tuesday = dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC)
    Worker(settings, factory.kw["bind"], factory, clock=lambda: tuesday).run_once()
    assert [str(m["Message-ID"]) for m in smtp.messages] == [
        "<digest.daily.2026-02-09.s1@testserver>"
    ]
    with factory() as session:
        entries = session.scalars(
            select(DailyEntry).where(DailyEntry.feed_date == dt.date(2026, 2, 9))
        ).all()
    assert entries  # the period had papers, so the mail carried them


def test_a_topic_is_searched_once_per_period_across_jobs(
    mail_settings: Settings, factory: sessionmaker[Session], mail_engine: Engine, smtp: SmtpRecorder
) -> None:
    settings = make_settings(
        mail_settings.data_dir,
        database_url=mail_settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port=mail_settings.smtp_port,
        digest_chunk_size=2,
    )
    _subscribe(factory, *(f"r{i}@example.org" for i in range(5)), topic="agents")
    with QueryCounter(mail_engine) as counter:
        assert _send(settings, factory) == 5
    assert len([s for s in counter.statements if _is_search(s)]) == 1  # 3 jobs, one search
    assert len(smtp.messages) == 5
    texts = {
        m.get_body(("plain",)).get_content().split("Read this digest")[0] for m in smtp.messages
    }  # type: ignore[union-attr]
    assert len(texts) == 1  # the same papers for every subscriber of the topic


def test_a_fixed_today_is_the_day_the_schedule_runs_on(
    mail_settings: Settings, factory: sessionmaker[Session]
) -> None:
    """``make demo`` fixes TODAY to the last day of the data: its digests carry that data."""
    settings = make_settings(
        mail_settings.data_dir, database_url=mail_settings.database_url, digest_enabled=True
    )  # TODAY 2026-02-27
    with factory.begin() as session:
        schedule_due_digests(session, settings, dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC))
        periods = session.scalars(select(Job.payload).where(Job.kind == SCHEDULE_JOB)).all()
    assert [p["period"] for p in periods] == ["daily:2026-02-26"]


def test_two_runs_of_one_chunk_send_each_message_once(
    mail_settings: Settings, factory: sessionmaker[Session], mail_engine: Engine, smtp: SmtpRecorder
) -> None:
    """A worker that lost its lease (or was paused) and the one that took over both run the
    chunk: the per-row claim lets only one of them send each message."""
    _subscribe(factory, *(f"r{i}@example.org" for i in range(6)))
    with factory.begin() as session:
        schedule_period(session, mail_settings, PERIOD, dt.datetime.now(dt.UTC))
        ids = list(session.scalars(select(DigestSend.id)))
    first = send_chunk(mail_settings, mail_engine, factory, PERIOD, ids)
    second = send_chunk(mail_settings, mail_engine, factory, PERIOD, ids)
    assert (first.sent, second.sent) == (6, 0)
    assert len(smtp.messages) == 6


def test_a_server_outage_strands_no_row(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    """Mailboxes that answer 4xx do not stop the others; rows never tried in a failing run are
    carried by follow-up jobs until each has had its own tries."""
    _subscribe(factory, *(f"r{i}@example.org" for i in range(8)))
    for i in range(3):
        smtp.rcpt_replies[f"r{i}@example.org"] = "452 4.2.2 Mailbox full"
    with factory.begin() as session:
        schedule_period(session, mail_settings, PERIOD, dt.datetime.now(dt.UTC))
    _drain(mail_settings, factory, rounds=60)
    assert sorted(str(m["To"]) for m in smtp.messages) == [f"r{i}@example.org" for i in range(3, 8)]
    with factory() as session:
        states = dict(session.execute(select(DigestSend.subscription_id, DigestSend.state)).all())
        subscriptions = session.scalars(select(Subscription)).all()
    assert sorted(states.values()) == ["failed"] * 3 + ["sent"] * 5
    assert all(s.hard_failures == 0 for s in subscriptions)  # 4xx is nobody's bounce


def test_a_refused_sender_is_not_the_subscribers_bounce(
    mail_settings: Settings, factory: sessionmaker[Session], smtp_server: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp_server
    _subscribe(factory, "a@example.org", "b@example.org")

    async def refuse_sender(
        server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        return "550 5.7.1 Sender not allowed"

    recorder.handle_MAIL = refuse_sender  # type: ignore[attr-defined]
    _send(mail_settings, factory)
    with factory() as session:
        subscriptions = session.scalars(select(Subscription)).all()
        rows = session.scalars(select(DigestSend)).all()
    assert all(s.hard_failures == 0 and s.deactivated_at is None for s in subscriptions)
    assert smtp_server[0].messages == []
    # Retried (quickly here) until each row's own tries ran out, blaming no subscriber.
    assert {r.state for r in rows} <= {"pending", "failed"}
    assert "Sender not allowed" in (rows[0].last_error or "")


def test_papers_hidden_before_a_retry_leave_a_note_not_a_crash(
    mail_settings: Settings, factory: sessionmaker[Session], mail_engine: Engine, smtp: SmtpRecorder
) -> None:
    _subscribe(factory, "reader@example.org", paper_count=2)
    with factory.begin() as session:
        schedule_period(session, mail_settings, PERIOD, dt.datetime.now(dt.UTC))
        ids = list(session.scalars(select(DigestSend.id)))
    smtp.data_replies = ["451 4.3.0 later"]
    send_chunk(mail_settings, mail_engine, factory, PERIOD, ids)  # freezes, then 451
    with factory.begin() as session:
        frozen = session.scalars(select(DigestSend)).one().paper_ids or []
        for paper in session.scalars(select(Paper).where(Paper.id.in_(frozen))):
            paper.hidden_at = dt.datetime.now(dt.UTC)
    stats = send_chunk(mail_settings, mail_engine, factory, PERIOD, ids)
    assert stats.sent == 1
    text = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Nothing new" in text
