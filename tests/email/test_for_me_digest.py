""" "For me" digests on a real store and a real SMTP server (SQLite and PostgreSQL): a hand-made
profile's close papers first with their reasons, dismissed papers never, the trending fallback
for an empty profile, and hostile input on the forms that make one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.digests.schedule import schedule_period
from dailypapers.foryou import service
from dailypapers.library import marks, saves
from dailypapers.models import Paper, Subscription, User
from dailypapers.web.app import create_app
from dailypapers.worker import Worker
from tests.factories import add_daily_paper, add_subscription, make_user
from tests.support.smtp import SmtpRecorder
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.both_backends

DAY = dt.date(2026, 2, 14)  # a Saturday: no demo papers, only the hand-made ones
PERIOD = f"daily:{DAY.isoformat()}"
NOW = dt.datetime(2026, 2, 15, 6, tzinfo=dt.UTC)
PROTEIN = "protein folding structure prediction with residue contact maps"
GRAPHS = "graph coloring chromatic number bounds for sparse planar graphs"


@pytest.fixture
def factory(mail_settings: Settings) -> Iterator[sessionmaker[Session]]:
    service.reset_caches()
    engine = make_engine(mail_settings)
    yield make_session_factory(engine)
    engine.dispose()


def _paper(settings: Settings, arxiv_id: str, title: str, abstract: str, **kw: object) -> int:
    add_daily_paper(
        settings, arxiv_id=arxiv_id, title=title, abstract=abstract, feed_date=DAY, **kw
    )
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        paper_id = session.scalars(select(Paper.id).where(Paper.arxiv_id == arxiv_id)).one()
    engine.dispose()
    return paper_id


def _day(settings: Settings) -> dict[str, int]:
    """Four protein papers (one to be dismissed) and four graph papers on DAY; graphs get
    the upvotes, so trending puts them first."""
    ids = {}
    for n in range(4):
        ids[f"protein{n}"] = _paper(
            settings,
            f"2602.8000{n}",
            f"Protein folding {n}: contact maps and residues",
            f"{PROTEIN}, variant {n}, residue contacts and folding energy.",
            upvotes=1,
        )
        ids[f"graph{n}"] = _paper(
            settings,
            f"2602.8001{n}",
            f"Graph coloring {n}: chromatic bounds",
            f"{GRAPHS}, case {n}, planar graphs and chromatic bounds.",
            upvotes=100 + n,
        )
    return ids


def _saved_profile(settings: Settings, factory: sessionmaker[Session], user_id: int) -> None:
    """Three saved protein papers from another day (stored before: the profile)."""
    for n in range(3):
        add_daily_paper(
            settings,
            arxiv_id=f"2601.7000{n}",
            title=f"Folding proteins from residue contacts {n}",
            abstract=f"{PROTEIN}; we predict folding from residue contact maps ({n}).",
            feed_date=dt.date(2026, 1, 5),
        )
    with factory.begin() as session:
        user = session.get(User, user_id)
        assert user is not None
        for paper_id in session.scalars(select(Paper.id).where(Paper.arxiv_id.like("2601.7000%"))):
            saves.save(session, user, paper_id, NOW)


def _for_me(factory: sessionmaker[Session], user_id: int, email: str, count: int) -> None:
    with factory.begin() as session:
        subscription = add_subscription(session, email, paper_count=count)
        subscription.kind = "for_me"
        subscription.user_id = user_id


def _send(settings: Settings, factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        schedule_period(session, settings, PERIOD, NOW)
    Worker(settings, factory.kw["bind"], factory).run_once()


def _body(message: object) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[attr-defined, no-any-return]


def test_a_for_me_digest_ranks_close_papers_first_and_never_a_dismissed_one(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    ids = _day(mail_settings)
    reader = make_user(mail_settings, "reader")
    _saved_profile(mail_settings, factory, reader)
    with factory.begin() as session:
        user = session.get(User, reader)
        assert user is not None
        marks.set_mark(session, user, ids["protein0"], "dismissed", on=True, now=NOW)
    _for_me(factory, reader, "reader@example.org", 3)
    with factory.begin() as session:  # a trending subscriber of the same day, for contrast
        add_subscription(session, "trending@example.org", paper_count=3)
    _send(mail_settings, factory)
    mails = {str(m["To"]): m for m in smtp.messages}
    assert sorted(mails) == ["reader@example.org", "trending@example.org"]
    mine = _body(mails["reader@example.org"])
    assert "for you" in str(mails["reader@example.org"]["Subject"])
    titles = [
        line.split(". ", 1)[1] for line in mine.splitlines() if line[:2] in ("1.", "2.", "3.")
    ]
    # The three close papers take the three places, ahead of the upvoted graph papers.
    assert sorted(t.split(":")[0] for t in titles) == [
        "Protein folding 1",
        "Protein folding 2",
        "Protein folding 3",
    ]
    assert "Protein folding 0" not in mine  # dismissed: never
    assert "Why: " in mine
    assert "you saved" in mine or "matches words you keep" in mine
    assert "Nothing to learn from yet" not in mine
    trending = _body(mails["trending@example.org"])
    assert "Graph coloring 3" in trending  # the upvoted ones lead the global list
    assert "Protein folding" not in trending


def test_an_empty_profile_gets_the_trending_list_and_is_told_so(
    mail_settings: Settings, factory: sessionmaker[Session], smtp: SmtpRecorder
) -> None:
    ids = _day(mail_settings)
    newcomer = make_user(mail_settings, "newcomer")
    with factory.begin() as session:
        user = session.get(User, newcomer)
        assert user is not None
        marks.set_mark(session, user, ids["graph3"], "dismissed", on=True, now=NOW)
    _for_me(factory, newcomer, "newcomer@example.org", 2)
    _send(mail_settings, factory)
    (mail,) = smtp.messages
    body = _body(mail)
    assert "Nothing to learn from yet" in body
    assert "Graph coloring 3" not in body  # dismissed, even in the fallback
    assert "Graph coloring 2" in body
    assert "Graph coloring 1" in body
    assert "Protein folding" not in body


@pytest.fixture
def client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings)) as test_client:
        yield test_client


def test_the_subscribe_form_offers_for_me_signed_in_and_refuses_hostile_input(
    mail_settings: Settings, client: TestClient, factory: sessionmaker[Session]
) -> None:
    signed_out = client.get("/subscribe")
    assert 'value="for_me"' not in signed_out.text
    refused = form(client, "/subscribe", {"email": "x@example.org", "kind": "for_me"})
    assert refused.status_code == 400
    assert "Sign in to get a digest ranked for you." in refused.text

    make_user(mail_settings, "reader")
    sign_in(client, "reader")
    page = client.get("/subscribe")
    assert 'value="for_me"' in page.text
    for hostile in ("for\x00me", "x" * 5000, "<script>alert(1)</script>", "alerts", "9" * 40):
        answer = form(client, "/subscribe", {"kind": hostile, "cadence": "daily"})
        assert answer.status_code in (400, 422), hostile[:20]
        assert "<script>alert(1)</script>" not in answer.text
    topic = form(client, "/subscribe", {"kind": "for_me", "topic": "agents"})
    assert topic.status_code == 400
    assert "has no topic" in topic.text
    with factory() as session:
        assert session.scalar(select(Subscription.id)) is None  # nothing was stored

    made = form(
        client,
        "/subscribe",
        {"kind": "for_me", "cadence": "weekly", "paper_count": "7", "email": "other@x.org"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    with factory() as session:
        row = session.scalars(select(Subscription)).one()
        assert (row.kind, row.cadence, row.paper_count, row.email) == (
            "for_me",
            "weekly",
            7,
            "reader@example.org",  # the account's address, whatever the form said
        )
        assert row.confirmed_at is not None
        token = row.unsubscribe_token
    manage = client.get(f"/subscriptions/{token}")
    assert 'name="topic"' not in manage.text
    sneaky = form(client, f"/subscriptions/{token}", {"cadence": "daily", "topic": "x"})
    assert sneaky.status_code == 400
    account = client.get("/account")
    assert "Ranked for you" in account.text
    assert f"/subscriptions/{token}" in account.text
