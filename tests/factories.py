"""Factories: rows for tests, made through the same service code the product uses.

Each takes the test's ``Settings`` (or a session it does not commit) and returns what a test
needs next (an id, a secret, the row). Default values are plain and valid; a test passes only
the fields it is about."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers import accounts
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, session_scope
from dailypapers.ingest.normalize import DailyPaperRecord
from dailypapers.ingest.run import load_hf_daily
from dailypapers.ingest.upsert import DailyPaperUpserter
from dailypapers.models import Paper, Subscription, User
from tests.support import DATA_DIR

# The password of every account make_user creates.
PASSWORD = "correct horse battery"


def add_daily_paper(settings: Settings, **fields: object) -> None:
    """Store one paper on the Daily Papers list through the real upsert path."""
    values: dict[str, object] = {
        "arxiv_id": "hep-th/9901001",
        "version": None,
        "title": "Old style",
        "abstract": "An old paper.",
        "authors": ("Ada Lovelace",),
        "categories": ("hep-th",),
        "published_at": None,
        "feed_date": dt.date(2026, 2, 27),
        "submitted_at": dt.datetime(2026, 2, 27, 8, tzinfo=dt.UTC),
        "upvotes": 1,
        "upvotes_read_at": None,
    }
    values.update(fields)
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as session:
        DailyPaperUpserter(session, settings.trending_window_hours).apply(
            [DailyPaperRecord(**values)]  # type: ignore[arg-type]
        )
    engine.dispose()


def load_api_fixture(settings: Settings) -> None:
    """Load the four Hugging Face API items of 2026-02-10 (submitters, an org, an AI summary)."""
    engine = make_engine(settings)
    load_hf_daily(
        make_session_factory(engine), settings, DATA_DIR / "hf_api_daily_papers_2026-02-10.json"
    )
    engine.dispose()


def hide_paper(settings: Settings, arxiv_id: str) -> None:
    """Hide a paper as a moderator's action does (the row's ``hidden_at``)."""
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as session:
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == arxiv_id)).one()
        paper.hidden_at = dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC)
    engine.dispose()


def make_user(settings: Settings, username: str, *, role: str = "user", **fields: object) -> int:
    """A verified account with PASSWORD; returns its id."""
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        user = accounts.create_user(
            session,
            settings,
            username=username,
            email=f"{username}@example.org",
            password=PASSWORD,
            role=role,
            now=dt.datetime.now(dt.UTC),
        )
        for name, value in fields.items():
            setattr(user, name, value)
        user_id = user.id
    engine.dispose()
    return user_id


def api_token(settings: Settings, user_id: int) -> str:
    """A new API token of that user; returns the secret a client sends."""
    engine = make_engine(settings)
    with session_scope(make_session_factory(engine)) as session:
        user = session.get(User, user_id)
        assert user is not None
        secret = accounts.create_api_token(session, user, "test", dt.datetime.now(dt.UTC)).secret
    engine.dispose()
    return secret


def add_subscription(
    session: Session,
    address: str,
    *,
    cadence: str = "daily",
    topic: str = "",
    paper_count: int = 5,
    confirmed: bool = True,
) -> Subscription:
    """A digest subscription row (confirmed unless told), flushed so it has an id."""
    subscription = Subscription(
        email=address,
        email_key=address.lower(),
        cadence=cadence,
        topic_query=topic,
        paper_count=paper_count,
        unsubscribe_token=secrets.token_urlsafe(32),
        hard_failures=0,
        confirmed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC) if confirmed else None,
    )
    session.add(subscription)
    session.flush()
    return subscription
