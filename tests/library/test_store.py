"""Saves, collections, notes, marks and the library listing, on the demo month's real store."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory, write_transaction
from dailypapers.digests.compose import PeriodComposer
from dailypapers.library import LibraryError, NotFoundError, collections, marks, saves
from dailypapers.library.listing import LibraryQuery, library_page
from dailypapers.models import DailyEntry, DigestReceived, Paper, Save, User
from tests.factories import add_subscription, make_user
from tests.support.database import db_session

pytestmark = pytest.mark.both_backends
NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)


def _user(session: Session, settings: Settings, name: str = "reader") -> User:
    user = session.get(User, make_user(settings, name))
    assert user is not None
    return user


def _papers(session: Session, n: int) -> list[Paper]:
    return list(session.scalars(select(Paper).order_by(Paper.id).limit(n)))


def test_save_is_idempotent_and_unsave_leaves_the_note(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        paper = _papers(session, 1)[0]
        assert saves.save(session, user, paper.id, NOW) is True
        assert saves.save(session, user, paper.id, NOW) is False
        saves.set_note(session, user, paper.id, "**key** idea", NOW)
        shelf = collections.create_collection(session, user, "To read", now=NOW)
        collections.add_to_collection(session, user, shelf.id, [paper.id], NOW)
        assert saves.unsave(session, user, paper.id) is True
        assert saves.unsave(session, user, paper.id) is False
        assert collections.collections_of(session, user) == [(shelf, 0)]
        note = saves.note_of(session, user, paper.id)
        assert note is not None
        assert note.body_html == "<p><strong>key</strong> idea</p>\n"


def test_a_note_is_sanitized_saves_the_paper_and_an_empty_one_deletes_it(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        paper = _papers(session, 1)[0]
        note = saves.set_note(
            session, user, paper.id, "<script>alert(1)</script> [x](javascript:alert(1)) ok", NOW
        )
        assert note is not None
        assert "<script" not in note.body_html
        assert "href" not in note.body_html  # the javascript: link stays inert text
        assert saves.saved_papers(session, user, [paper.id]) == {paper.id}
        assert saves.set_note(session, user, paper.id, "  \x00 ", NOW) is None
        assert saves.note_of(session, user, paper.id) is None
        with pytest.raises(LibraryError, match="under 20,000"):
            saves.set_note(session, user, paper.id, "x" * 20_001, NOW)


def test_collections_are_named_once_per_user_and_private_to_others(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        owner = _user(session, demo_settings, "owner")
        other = _user(session, demo_settings, "other")
        shelf = collections.create_collection(session, owner, "  Reading   group ", now=NOW)
        assert shelf.name == "Reading group"
        with pytest.raises(LibraryError, match="already have"):
            collections.create_collection(session, owner, "reading GROUP", now=NOW)
        collections.create_collection(session, other, "Reading group", now=NOW)  # theirs
        with pytest.raises(NotFoundError):
            collections.readable_collection(session, other, shelf.id)
        with pytest.raises(NotFoundError):
            collections.readable_collection(session, None, shelf.id)
        with pytest.raises(NotFoundError):
            collections.add_to_collection(session, other, shelf.id, [1], NOW)
        collections.update_collection(session, owner, shelf.id, is_public=True, now=NOW)
        assert collections.readable_collection(session, None, shelf.id) is shelf
        with pytest.raises(LibraryError, match="name"):
            collections.create_collection(session, owner, " \x00 ", now=NOW)


def test_a_paper_in_many_collections_and_deleting_one_keeps_the_saves(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        a, b = _papers(session, 2)
        first = collections.create_collection(session, user, "First", now=NOW)
        second = collections.create_collection(session, user, "Second", now=NOW)
        assert collections.add_to_collection(session, user, first.id, [a.id, b.id], NOW) == 2
        assert collections.add_to_collection(session, user, second.id, [a.id, a.id], NOW) == 1
        assert collections.memberships(session, user, [a.id, b.id]) == {
            a.id: {first.id, second.id},
            b.id: {first.id},
        }
        collections.delete_collection(session, user, first.id)
        session.expire_all()
        assert saves.saved_papers(session, user, [a.id, b.id]) == {a.id, b.id}
        assert collections.memberships(session, user, [a.id, b.id]) == {a.id: {second.id}}


def test_two_threads_saving_the_same_paper_store_one_row(demo_settings: Settings) -> None:
    user_id = make_user(demo_settings, "racer")
    engine = make_engine(demo_settings)
    factory = make_session_factory(engine)
    with factory() as session:
        paper_id = _papers(session, 1)[0].id
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        with factory() as session:
            user = session.get(User, user_id)
            assert user is not None
            barrier.wait()
            with write_transaction(session):
                results.append(saves.save(session, user, paper_id, NOW))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with factory() as session:
        rows = session.scalars(select(Save).where(Save.user_id == user_id)).all()
    engine.dispose()
    assert sorted(results) == [False, False, False, True]
    assert len(rows) == 1


def test_marks_and_sent_papers_make_the_state_of_each_card(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        a, b, c, d = _papers(session, 4)
        saves.save(session, user, a.id, NOW)
        marks.mark_opened(session, user, b.id, NOW)
        marks.mark_opened(session, user, b.id, NOW + dt.timedelta(hours=1))  # first one stays
        marks.set_mark(session, user, c.id, "dismissed", on=True, now=NOW)
        subscription = add_subscription(session, "reader@example.org")  # the verified address
        session.add(DigestReceived(subscription_id=subscription.id, paper_id=d.id))
        session.flush()
        states = marks.states_for(session, user, [a.id, b.id, c.id, d.id])
        assert states[a.id] == marks.PaperState(saved=True)
        assert states[b.id] == marks.PaperState(opened=True)
        assert states[b.id].seen
        assert states[c.id] == marks.PaperState(dismissed=True)
        assert not states[c.id].seen
        assert states[d.id] == marks.PaperState(sent=True)
        marks.set_mark(session, user, c.id, "dismissed", on=False, now=NOW)
        assert c.id not in marks.states_for(session, user, [c.id])
        assert marks.states_for(session, None, [a.id]) == {}


def test_a_dismissed_paper_is_left_out_of_the_owners_next_digest(demo_settings: Settings) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        day = dt.date(2026, 2, 10)
        mine = add_subscription(session, "other-address@example.org", paper_count=3)
        mine.user_id = user.id
        anonymous = add_subscription(session, "someone@example.org", paper_count=3)
        session.flush()
        composer = PeriodComposer(session, demo_settings, f"daily:{day.isoformat()}")
        before = composer.compose_many([mine, anonymous])
        top = before[mine.id].paper_ids[0]
        assert before[anonymous.id].paper_ids[0] == top
        marks.set_mark(session, user, top, "dismissed", on=True, now=NOW)
        after = PeriodComposer(session, demo_settings, f"daily:{day.isoformat()}").compose_many(
            [mine, anonymous]
        )
        assert top not in after[mine.id].paper_ids
        assert after[mine.id].paper_ids[:2] == before[mine.id].paper_ids[1:]
        assert after[anonymous.id].paper_ids == before[anonymous.id].paper_ids


def test_the_visit_clock_moves_once_per_visit() -> None:
    user = User(username="v", last_active_at=None, previous_visit_at=None)
    assert marks.visit_update(user, NOW) == {"last_active_at": NOW}
    user.last_active_at = NOW
    assert marks.visit_update(user, NOW + dt.timedelta(minutes=2)) is None
    later = NOW + dt.timedelta(minutes=30)
    assert marks.visit_update(user, later) == {"last_active_at": later}
    next_day = NOW + dt.timedelta(days=1)
    assert marks.visit_update(user, next_day) == {
        "last_active_at": next_day,
        "previous_visit_at": NOW,
    }


def test_the_library_sorts_filters_and_searches_only_the_users_papers(
    demo_settings: Settings,
) -> None:
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        other = _user(session, demo_settings, "other")
        entries = session.scalars(
            select(DailyEntry).where(DailyEntry.feed_date == dt.date(2026, 2, 10))
        ).all()
        papers = [e.paper for e in entries][:6]
        for n, paper in enumerate(papers):
            saves.save(session, user, paper.id, NOW + dt.timedelta(minutes=n))
        everything = session.scalars(select(Paper.id)).all()
        saves.save_many(session, other, list(everything[:50]), NOW)
        page = library_page(session, user, LibraryQuery(), page=0, page_size=4)
        assert page.total == 6
        assert [i.paper.id for i in page.items] == [p.id for p in reversed(papers)][:4]
        assert page.has_next
        by_votes = library_page(session, user, LibraryQuery(sort="upvotes"), page=0, page_size=10)
        votes = [i.paper.upvotes for i in by_votes.items]
        assert votes == sorted(votes, reverse=True)
        shelf = collections.create_collection(session, user, "Two", now=NOW)
        collections.add_to_collection(session, user, shelf.id, [papers[0].id, papers[1].id], NOW)
        in_shelf = library_page(
            session, user, LibraryQuery(collection_id=shelf.id), page=0, page_size=10
        )
        assert {i.paper.id for i in in_shelf.items} == {papers[0].id, papers[1].id}
        word = papers[2].title.split()[0]
        found = library_page(
            session, user, LibraryQuery(q=word, sort="relevance"), page=0, page_size=10
        )
        assert papers[2].id in {i.paper.id for i in found.items}
        assert {i.paper.id for i in found.items} <= {p.id for p in papers}
        with pytest.raises(LibraryError):
            library_page(session, user, LibraryQuery(q="from:banana"), page=0, page_size=10)


def test_an_arxiv_id_or_link_finds_that_paper_in_the_library(demo_settings: Settings) -> None:
    """As on /search, an id or paper URL names one paper; it was ignored, which listed the
    whole library."""
    with db_session(demo_settings) as session:
        user = _user(session, demo_settings)
        papers = _papers(session, 5)
        for n, paper in enumerate(papers):
            saves.save(session, user, paper.id, NOW + dt.timedelta(minutes=n))
        wanted = papers[2]

        def found(q: str, sort: str = "saved") -> list[int]:
            query = LibraryQuery(q=q, sort=sort)  # type: ignore[arg-type]
            return [
                i.paper.id for i in library_page(session, user, query, page=0, page_size=10).items
            ]

        assert found(wanted.arxiv_id) == [wanted.id]
        assert found(f"https://arxiv.org/abs/{wanted.arxiv_id}v2", "relevance") == [wanted.id]
        assert found(f"https://huggingface.co/papers/{wanted.arxiv_id}") == [wanted.id]
        unsaved = session.scalars(select(Paper).order_by(Paper.id.desc()).limit(1)).one()
        assert found(unsaved.arxiv_id) == []
        word = papers[0].title.split()[0]
        both = found(f"{word} {wanted.arxiv_id}", "relevance")
        assert both[0] == wanted.id
        assert papers[0].id in both
