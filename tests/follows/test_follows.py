"""Follows and the alert pipeline on a real store (SQLite and PostgreSQL): each kind, the
normalized targets, hostile input, one match per paper with every reason, once per channel."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select

from dailypapers.alerts import AlertItem
from dailypapers.alerts.pipeline import run_matching, undelivered
from dailypapers.config import Settings
from dailypapers.digests.compose import PeriodComposer
from dailypapers.follows import (
    MAX_FOLLOWS_PER_USER,
    FollowError,
    follow,
    followed_targets,
    list_follows,
    unfollow,
)
from dailypapers.ingest.normalize import OrgRef
from dailypapers.models import AlertDelivery, AlertMatch, Follow, Paper
from dailypapers.search.lexical import matching
from tests.factories import add_daily_paper, make_user
from tests.support.database import db_session

pytestmark = pytest.mark.both_backends
NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)
DAY = dt.date(2026, 2, 27)


@pytest.fixture(autouse=True)
def _migrated(engine: Engine) -> None:
    """Every test here starts from an empty, migrated store."""


def _paper(settings: Settings, arxiv_id: str, **fields: object) -> int:
    add_daily_paper(settings, arxiv_id=arxiv_id, **fields)
    with db_session(settings) as session:
        return session.scalars(select(Paper.id).where(Paper.arxiv_id == arxiv_id)).one()


def _first_papers(settings: Settings) -> None:
    """An org on the store (orgs come with the papers they submit) and an older paper."""
    _paper(
        settings,
        "2602.00001",
        title="Older work",
        authors=("Grace Hopper",),
        organization=OrgRef("meta-ai", "Meta AI", None),
    )


def test_follow_each_kind_normalized_once_and_unfollow(settings: Settings) -> None:
    _first_papers(settings)
    reader, other = make_user(settings, "reader"), make_user(settings, "other")
    with db_session(settings) as session, session.begin():
        author, created = follow(session, reader, "author", "LECUN, Yann", NOW)
        assert created
        assert author.target == "yann lecun"
        assert author.label == "LECUN, Yann"
        again, created = follow(session, reader, "author", "Yann  LeCun", NOW)
        assert not created
        assert again.id == author.id
        org, _ = follow(session, reader, "org", "Meta-AI", NOW)
        assert (org.target, org.label) == ("meta-ai@hf", "Meta AI")  # imported from HF
        category, _ = follow(session, reader, "category", "CS.cl", NOW)
        assert category.target == "cs.CL"
        search, _ = follow(session, reader, "search", 'author:"Grace Hopper"', NOW)
        assert search.channels == ["email", "feed"]
        assert [f.kind for f in list_follows(session, reader)] == [
            "author",
            "org",
            "category",
            "search",
        ]
        assert followed_targets(session, reader)["category", "cs.CL"] == category.id
        assert followed_targets(session, None) == {}
        assert not unfollow(session, other, author.id)  # not theirs
        assert unfollow(session, reader, author.id)
        assert not unfollow(session, reader, author.id)
        assert not unfollow(session, reader, 2**62)
        assert len(list_follows(session, reader)) == 3


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("person", "Yann LeCun", "Follow an author"),
        ("author", "\x00\x00", "Say what to follow"),
        ("author", "x" * 10_000, "under 300"),
        ("author", "…!!", "needs letters"),
        ("org", "no-such-org", "No organization"),
        ("category", "cs CL <b>", "not an arXiv category"),
        ("search", "-- **", "needs a word"),
        ("search", "diffusion", ""),  # fine: the control case
    ],
)
def test_hostile_or_wrong_targets_are_refused(
    settings: Settings, kind: str, target: str, message: str
) -> None:
    reader = make_user(settings, "reader")
    with db_session(settings) as session, session.begin():
        if not message:
            assert follow(session, reader, kind, target, NOW)[1]
            return
        with pytest.raises(FollowError, match=message):
            follow(session, reader, kind, target, NOW)
        assert session.scalar(select(func.count()).select_from(Follow)) == 0


def test_markup_in_a_label_is_kept_as_text_and_channels_are_checked(settings: Settings) -> None:
    reader = make_user(settings, "reader")
    with db_session(settings) as session, session.begin():
        row, _ = follow(session, reader, "category", "cs.CL", NOW, label="<script>x</script>\n")
        assert row.label == "<script>x</script>"  # escaped where shown, one line here
        with pytest.raises(FollowError, match="Unknown channel"):
            follow(session, reader, "category", "cs.LG", NOW, channels=["sms"])


def test_the_cap_per_user(settings: Settings) -> None:
    reader = make_user(settings, "reader")
    with db_session(settings) as session, session.begin():
        session.add_all(
            Follow(user_id=reader, kind="author", target=f"a{i}", label="a", channels=[])
            for i in range(MAX_FOLLOWS_PER_USER)
        )
        session.flush()
        with pytest.raises(FollowError, match="already"):
            follow(session, reader, "author", "One More", NOW)


def test_a_paper_matching_three_follows_is_alerted_once_per_channel_with_each_reason(
    settings: Settings,
) -> None:
    _first_papers(settings)
    reader, bystander = make_user(settings, "reader"), make_user(settings, "bystander")
    with db_session(settings) as session, session.begin():
        follow(session, reader, "author", "Yann LeCun", NOW, channels=["email", "feed", "webhook"])
        follow(session, reader, "category", "cs.CL", NOW)
        follow(session, reader, "search", "diffusion", NOW, label="diffusion")
        follow(session, reader, "org", "meta-ai", NOW)
        follow(session, bystander, "category", "cs.CV", NOW)
    # The back catalogue is not news: only papers stored after the first follow alert.
    new = _paper(
        settings,
        "2602.00002",
        title="Diffusion language models",
        abstract="We train diffusion models on text.",
        authors=("Yann LeCun", "Ada Lovelace"),
        categories=("cs.CL", "cs.LG"),
    )
    unrelated = _paper(settings, "2602.00003", title="Graphs", categories=("math.CO",))
    with db_session(settings) as session, session.begin():
        stats = run_matching(session, NOW)
        assert (stats.papers, stats.matches, stats.webhook_items) == (2, 1, 1)
    with db_session(settings) as session, session.begin():
        assert run_matching(session, NOW).papers == 0  # nothing new: nothing repeated
        match = session.get(AlertMatch, (reader, new))
        assert match is not None
        assert match.reasons == [
            "by Yann LeCun, whom you follow",
            "in cs.CL, which you follow",
            "matches your search “diffusion”",
        ]
        assert match.channels == ["email", "feed", "webhook"]
        assert session.get(AlertMatch, (reader, unrelated)) is None
        assert session.scalar(select(func.count()).select_from(AlertMatch)) == 1
        deliveries = session.execute(
            select(AlertDelivery.paper_id, AlertDelivery.channel).order_by(AlertDelivery.channel)
        ).all()
        assert [tuple(row) for row in deliveries] == [(new, "feed"), (new, "webhook")]
        # Email is delivered by the digest: waiting, once, with every reason.
        assert undelivered(session, [reader, bystander], "email") == {
            reader: [AlertItem(new, tuple(match.reasons))]
        }


def test_a_later_run_merges_a_new_reason_without_a_second_delivery(settings: Settings) -> None:
    _first_papers(settings)
    reader = make_user(settings, "reader")
    with db_session(settings) as session, session.begin():
        follow(session, reader, "category", "cs.CL", NOW)
    new = _paper(settings, "2602.00002", title="Text", categories=("cs.CL",))
    with db_session(settings) as session, session.begin():
        run_matching(session, NOW)
        follow(session, reader, "author", "Ada Lovelace", NOW)
        session.flush()
        from dailypapers.alerts.pipeline import record_matches
        from dailypapers.follows.matching import match_papers

        record_matches(session, match_papers(session, [new]), NOW)
        match = session.get(AlertMatch, (reader, new))
        assert match is not None
        assert match.reasons == ["in cs.CL, which you follow", "by Ada Lovelace, whom you follow"]
        assert session.scalar(select(func.count()).select_from(AlertDelivery)) == 1


def test_filter_only_queries_match_in_digests_and_follows(settings: Settings) -> None:
    _first_papers(settings)
    paper = _paper(settings, "2602.00002", title="Text", authors=("Ada Lovelace",))
    with db_session(settings) as session:
        everything = Paper.hidden_at.is_(None)
        found = session.scalars(matching(session, 'author:"Ada Lovelace"', everything)).all()
        assert found == [paper]
        composer = PeriodComposer(session, settings, f"daily:{DAY.isoformat()}")
        assert composer.topic_ids('author:"Ada Lovelace"') == [paper]
        assert composer.topic_ids("author:nobody") == []
        assert session.scalars(matching(session, "-- **", everything)).all() == []
