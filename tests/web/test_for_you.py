"""For you: the ranking on a hand-made profile, its reasons, the fallback, the page and the API,
through the real app on both backends."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, write_transaction
from dailypapers.follows import follow
from dailypapers.foryou import ranker
from dailypapers.foryou.service import rank_for_user, reset_caches
from dailypapers.library import marks, saves
from dailypapers.models import DailyEntry, Paper, User
from dailypapers.periods import parse_month
from dailypapers.web.app import create_app
from tests.factories import api_token, make_user
from tests.support.web_client import sign_in

pytestmark = pytest.mark.both_backends
NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)
MONTH = parse_month("2026-02")
TOPIC = re.compile(r"\bvideo", re.IGNORECASE)


@pytest.fixture
def app_settings(demo_settings: Settings) -> Settings:
    reset_caches()
    return demo_settings.model_copy(update={"offline": True})


@pytest.fixture
def db(app_settings: Settings) -> Iterator[Session]:
    engine = make_engine(app_settings)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def _topic_papers(session: Session) -> list[Paper]:
    papers = session.scalars(
        select(Paper).join(DailyEntry, DailyEntry.paper_id == Paper.id).order_by(Paper.id)
    ).all()
    return [p for p in papers if TOPIC.search(p.title)]


def _profile(session: Session, settings: Settings, name: str) -> tuple[User, list[Paper]]:
    """A user who saved six papers on video and dismissed one more."""
    user = session.get(User, make_user(settings, name))
    assert user is not None
    topic = _topic_papers(session)
    assert len(topic) >= 12, "the demo month has papers on video"
    with write_transaction(session):
        for paper in topic[:6]:
            saves.save(session, user, paper.id, NOW)
        marks.set_mark(session, user, topic[6].id, "dismissed", on=True, now=NOW)
    return user, topic


def test_papers_close_to_the_saved_ones_come_first_and_dismissed_never(
    db: Session, app_settings: Settings
) -> None:
    user, topic = _profile(db, app_settings, "vid")
    ranked = rank_for_user(db, user.id, MONTH, NOW.date(), limit=10_000)
    assert not ranked.fallback
    ids = [item.entry.paper_id for item in ranked.items]
    assert topic[6].id not in ids  # dismissed
    assert not {p.id for p in topic[:6]} & set(ids)  # already in the library
    on_topic = {p.id for p in topic[7:]}
    top = ids[:10]
    base_rate = len(on_topic) / len(ids)
    share = len(on_topic & set(top)) / len(top)
    assert share >= 0.5 > base_rate * 3, (share, base_rate)
    scores = [item.score for item in ranked.items]
    assert scores == sorted(scores, reverse=True)


def test_reasons_are_true_to_the_signals(db: Session, app_settings: Settings) -> None:
    user, topic = _profile(db, app_settings, "why")
    saved_text = " ".join(f"{p.title} {p.abstract}" for p in topic[:6])
    saved_words = set(ranker.tokens(saved_text))
    ranked = rank_for_user(db, user.id, MONTH, NOW.date(), limit=20)
    worded = 0
    for item in ranked.items:
        paper_words = set(ranker.tokens(f"{item.entry.paper.title} {item.entry.paper.abstract}"))
        for reason in item.reasons:
            if reason.startswith("matches words you keep: "):
                words = reason.removeprefix("matches words you keep: ").split(", ")
                assert set(words) <= paper_words & saved_words, (words, item.entry.paper.title)
                worded += 1
            else:  # "close to “T” you saved": T is one of the saved titles
                title = re.fullmatch(r"close to “(.*)” you saved", reason)
                assert title is not None, reason
                assert title.group(1) in {p.title for p in topic[:6]}
    assert worded >= 5


def test_a_new_user_gets_trending_and_is_told(db: Session, app_settings: Settings) -> None:
    user = db.get(User, make_user(app_settings, "newbie"))
    assert user is not None
    ranked = rank_for_user(db, user.id, MONTH, NOW.date(), limit=5)
    assert ranked.fallback
    assert "Nothing to learn from yet" in ranked.reason
    trending = [item.entry.paper.trending_score for item in ranked.items]
    assert trending == sorted(trending, reverse=True)
    assert len(trending) == 5


def _least_trending_author(session: Session) -> tuple[Paper, str]:
    """The month's least trending paper and its first author (by one paper this month only)."""
    papers = session.scalars(
        select(Paper)
        .join(DailyEntry, DailyEntry.paper_id == Paper.id)
        .order_by(Paper.trending_score, Paper.id)
    ).all()
    counts: dict[str, int] = {}
    for paper in papers:
        for name in paper.author_names:
            counts[name] = counts.get(name, 0) + 1
    for paper in papers:
        if paper.author_names and counts[paper.author_names[0]] == 1:
            return paper, paper.author_names[0]
    raise AssertionError("no single-paper author in the demo month")


@pytest.mark.parametrize("with_saves", [False, True])
def test_a_followed_authors_paper_comes_first_with_its_reason(
    db: Session, app_settings: Settings, with_saves: bool
) -> None:
    if with_saves:
        user, _ = _profile(db, app_settings, "follower")
    else:
        found = db.get(User, make_user(app_settings, "follower"))
        assert found is not None
        user = found
    paper, name = _least_trending_author(db)
    with write_transaction(db):
        follow(db, user.id, "author", name, NOW)
    ranked = rank_for_user(db, user.id, MONTH, NOW.date(), limit=5)
    assert ranked.fallback is not with_saves
    first = ranked.items[0]
    assert first.entry.paper_id == paper.id
    assert f"by {name}, whom you follow" in first.reasons
    assert all(not any("whom you follow" in r for r in i.reasons) for i in ranked.items[1:])
    if not with_saves:
        assert "matching what you follow first" in ranked.reason


def test_the_page_ranks_for_the_signed_in_reader_and_prompts_others(
    app_settings: Settings, db: Session
) -> None:
    _profile(db, app_settings, "pageuser")
    with TestClient(create_app(app_settings)) as client:
        anonymous = client.get("/for-you/month/2026-02")
        assert anonymous.status_code == 200
        assert "Sign in" in anonymous.text
        assert "for-you-tab" in client.get("/papers/month/2026-02").text
        sign_in(client, "pageuser")
        page = client.get("/for-you/month/2026-02")
        assert page.status_code == 200
        assert "ranked for you" in page.text
        assert "matches words you keep" in page.text
        assert client.get("/for-you").status_code == 200
        for bad in ("/for-you/month/2026-13", "/for-you/date/%00", "/for-you/week/9" * 50):
            assert client.get(bad).status_code in (400, 404), bad
        assert client.get("/for-you/year/2026").status_code in (400, 404, 422)


def test_the_api_answers_only_its_owner(app_settings: Settings, db: Session) -> None:
    user, _ = _profile(db, app_settings, "apiowner")
    other = make_user(app_settings, "apiother")
    with TestClient(create_app(app_settings)) as client:
        assert client.get("/api/me/for-you", params={"month": "2026-02"}).status_code == 401
        assert "/api/me/for-you" in client.get("/openapi.json").json()["paths"]
        client.headers["Authorization"] = f"Bearer {api_token(app_settings, user.id)}"
        mine = client.get("/api/me/for-you", params={"month": "2026-02", "limit": 5}).json()
        assert mine["fallback"] is False
        assert mine["period"] == "2026-02"
        assert len(mine["items"]) == 5
        assert all("reasons" in i for i in mine["items"])
        assert mine["items"][0]["score"] >= mine["items"][-1]["score"]
        client.headers["Authorization"] = f"Bearer {api_token(app_settings, other)}"
        theirs = client.get("/api/me/for-you", params={"month": "2026-02", "limit": 5}).json()
        assert theirs["fallback"] is True  # another user's list is not reachable, only one's own
        for params in (
            {"month": "2026-02", "week": "2026-W07"},
            {"date": "2026-02-30"},
            {"month": "\x00"},
            {"limit": 10**30},
            {"p": -1},
            {"date": "<script>" * 100},
        ):
            answer = client.get("/api/me/for-you", params=params)
            assert answer.status_code == 400, (params, answer.status_code)
            assert "error" in answer.json()


def test_the_word_column_is_the_hashers() -> None:
    """The lexical reason reads the model's weight at the column the hasher put the word in."""
    for word in ("video", "diffusion", "robots", "transformer", "zebra"):
        assert ranker.word_column(word) == ranker.word_features([word]).indices[0]
