"""The crash harness (bench/crash_harness.py): a short run with real kills passes, and each of
its checks (bench/crash_checks.py) reports the defect it is there to find, on a real store."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.crash_checks import (
    check_answers,
    check_comments,
    check_digests,
    check_embedding_work,
    check_exits,
    check_ingest,
    check_integrity,
    check_jobs,
    check_submissions,
    check_vote_counters,
    check_votes,
    ingested_papers,
)
from bench.crash_harness import FIXTURE_SNAPSHOT, HarnessConfig, run
from dailypapers import jobs
from dailypapers.community import add_comment, set_vote, vote_target
from dailypapers.config import Settings
from dailypapers.digests.schedule import schedule_period
from dailypapers.models import DigestSend, Job, Paper, User
from tests.factories import add_daily_paper, add_subscription, make_user
from tests.support import DATA_DIR

NOW = dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC)
PAPER = "2602.00001"


@pytest.mark.both_backends
def test_a_short_run_with_kills_of_each_process_keeps_every_invariant(
    tmp_path: Path, settings: Settings
) -> None:
    config = HarnessConfig(
        workdir=tmp_path,
        kills=3,  # one of each kind
        seed=7,
        database_url=settings.database_url,
        snapshot=FIXTURE_SNAPSHOT,
        daily_papers=DATA_DIR / "hf_api_daily_papers_2026-02-10.json",  # four papers
        voters=2,
        subscribers=10,
        submissions=4,
        drain_timeout_seconds=45,
    )
    report = run(config)
    assert report.ok, "\n".join(report.lines())
    assert report.kills["server"] == 1
    assert report.kills["worker"] == 1
    assert report.kills["ingest"] + report.missed_kills >= 1
    assert report.record.outcomes["vote:200"] > 0
    assert report.mails >= 10  # the period scheduled before the worker's kill, all delivered


@pytest.fixture
def store(settings: Settings, engine: Engine) -> Session:
    """A store with one paper on the list and two accounts."""
    add_daily_paper(settings, arxiv_id=PAPER, title="A paper", upvotes=3)
    make_user(settings, "alice")
    make_user(settings, "bob")
    return Session(engine)


def _user(session: Session, name: str) -> User:
    return session.scalars(select(User).where(User.username == name)).one()


def _vote(session: Session, settings: Settings, name: str) -> None:
    target = vote_target(session, PAPER)
    assert target is not None
    set_vote(session, settings, _user(session, name), target, on=True, now=NOW)
    session.commit()


def test_votes_report_an_acknowledged_vote_that_is_missing(
    settings: Settings, store: Session
) -> None:
    _vote(store, settings, "alice")
    record = {("alice", PAPER): True, ("bob", PAPER): None}
    assert check_votes(store, record).ok
    record[("bob", PAPER)] = True  # answered 200, but no row
    check = check_votes(store, record)
    assert not check.ok
    assert f"bob→{PAPER}" in check.detail
    assert not check_votes(store, {("alice", PAPER): False}).ok  # an un-vote undone


def test_vote_counters_report_a_doubled_vote(settings: Settings, store: Session) -> None:
    _vote(store, settings, "alice")
    assert check_vote_counters(store, {PAPER: 4}).ok  # 3 imported + 1 local
    store.execute(update(Paper).values(local_upvotes=Paper.local_upvotes + 1))  # counted twice
    store.commit()
    check = check_vote_counters(store)
    assert not check.ok
    assert "counter 2, rows 1" in check.detail


def test_vote_counters_report_a_shown_count_that_is_off(settings: Settings, store: Session) -> None:
    _vote(store, settings, "alice")
    check = check_vote_counters(store, {PAPER: 3})
    assert not check.ok
    assert "shown 3" in check.detail


def test_comments_report_a_lost_and_a_doubled_comment(store: Session) -> None:
    paper = store.scalars(select(Paper).where(Paper.arxiv_id == PAPER)).one()
    for body in ("once", "twice", "twice"):
        add_comment(store, _user(store, "alice"), paper, body, now=NOW)
    store.commit()
    assert check_comments(store, {"once": True, "in flight": None}).ok
    check = check_comments(store, {"once": True, "lost": True, "twice": True})
    assert not check.ok
    assert "1 lost: 'lost'" in check.detail
    assert "'twice' ×2" in check.detail
    assert not check_comments(store, {"once": False}).ok  # refused, yet stored


def test_submissions_report_an_acknowledged_one_missing(store: Session) -> None:
    assert check_submissions(store, {PAPER: "200"}).ok
    check = check_submissions(store, {PAPER: "409", "2602.99999": "200"})
    assert not check.ok
    assert "2602.99999" in check.detail
    assert not check_submissions(store, {"2602.99998": "?"}).ok  # never settled


def test_jobs_report_one_left_running(engine: Engine, store: Session) -> None:
    jobs.enqueue(store, jobs.DIGEST_SEND_JOB, {}, now=NOW)
    store.commit()
    assert not check_jobs(store, NOW + dt.timedelta(minutes=1), 1.5).ok  # overdue in the queue
    lease = dt.timedelta(seconds=1.5)
    claimed = jobs.claim(
        engine,
        sessionmaker(engine),
        "dead-worker",
        kinds=[jobs.DIGEST_SEND_JOB],
        now=NOW,
        lease=lease,
    )
    assert claimed is not None
    store.expire_all()
    check = check_jobs(store, NOW, 1.5)
    assert not check.ok
    assert "still running" in check.detail
    store.execute(update(Job).values(state="done"))
    store.commit()
    assert check_jobs(store, NOW, 1.5).ok


def test_embedding_work_reports_a_paper_left_without_its_job(store: Session) -> None:
    assert check_embedding_work(store).ok  # the upsert queued the paper's job
    store.execute(update(Job).where(Job.kind == jobs.EMBED_JOB).values(state="done"))
    store.commit()
    check = check_embedding_work(store)
    assert not check.ok
    assert "1 papers with neither" in check.detail


def _sent_period(session: Session, settings: Settings, period: str) -> list[str]:
    """Schedule ``period`` for two subscribers and mark its rows sent; their Message-IDs."""
    schedule_period(session, settings, period, NOW)
    ids = []
    for send in session.scalars(select(DigestSend).where(DigestSend.period_key == period)):
        send.state, send.message_id = "sent", f"<digest.{send.id}@example.org>"
        ids.append(send.message_id)
    session.commit()
    return ids


def _messages(ids: list[str], text: str = "Today's papers") -> list[EmailMessage]:
    messages = []
    for message_id in ids:
        message = EmailMessage()
        message["Message-ID"] = message_id
        message.set_content(text)
        messages.append(message)
    return messages


def test_digests_report_a_repeated_and_a_lost_message(settings: Settings, store: Session) -> None:
    add_subscription(store, "one@example.org")
    add_subscription(store, "two@example.org")
    store.commit()
    period = "daily:2026-02-26"
    first, second = _sent_period(store, settings, period)
    assert check_digests(store, _messages([first, second]), [period], worker_kills=0).ok
    repeated = _messages([first, second, second])
    check = check_digests(store, repeated, [period], worker_kills=0)
    assert not check.ok
    assert f"{second} ×2" in check.detail
    # The one message a killed worker had in flight may go twice, under the same Message-ID.
    assert check_digests(store, repeated, [period], worker_kills=1).ok
    changed = [*_messages([first, second]), *_messages([second], "Other papers")]
    check = check_digests(store, changed, [period], worker_kills=1)
    assert not check.ok
    assert "repeated with other content" in check.detail
    check = check_digests(store, _messages([first]), [period], worker_kills=1)
    assert not check.ok
    assert "sent but never received" in check.detail
    stray = _messages([first, second, "<someone-else@example.org>"])
    assert not check_digests(store, stray, [period], worker_kills=0).ok
    check = check_digests(store, _messages([first, second]), [period, "daily:2026-02-27"], 0)
    assert not check.ok
    assert "2 never scheduled" in check.detail


def test_ingest_reports_a_paper_of_the_file_that_is_missing(tmp_path: Path, store: Session) -> None:
    snapshot = tmp_path / "snapshot.jsonl.gz"
    with gzip.open(snapshot, "wt") as out:
        out.write(json.dumps({"id": PAPER}) + "\n")
    assert check_ingest(store, snapshot).ok
    with gzip.open(snapshot, "at") as out:
        out.write(json.dumps({"id": "2602.00002"}) + "\n")
    check = check_ingest(store, snapshot)
    assert not check.ok
    assert "1 missing: 2602.00002" in check.detail


def test_ingest_reports_a_paper_unlike_the_uninterrupted_ingest(
    tmp_path: Path, store: Session
) -> None:
    snapshot = tmp_path / "snapshot.jsonl"
    snapshot.write_text(json.dumps({"id": PAPER}) + "\n")
    reference = ingested_papers(store, {PAPER})
    assert check_ingest(store, snapshot, reference).ok
    store.execute(update(Paper).values(authors_text=""))  # a record half applied
    store.commit()
    check = check_ingest(store, snapshot, reference)
    assert not check.ok
    assert f"1 unlike an uninterrupted ingest: {PAPER}" in check.detail


def test_integrity_reports_a_lexical_index_out_of_step(engine: Engine, store: Session) -> None:
    assert check_integrity(engine).ok
    with engine.begin() as connection:  # an index row no paper stands behind
        connection.exec_driver_sql(
            "INSERT INTO papers_fts(rowid, title, abstract, authors_text) "
            "VALUES (999, 'ghost', 'ghost', 'ghost')"
        )
    check = check_integrity(engine)
    assert not check.ok
    assert "papers_fts" in check.detail


def test_exits_report_a_process_that_died_on_its_own() -> None:
    assert check_exits([]).ok
    assert not check_exits(["worker exited 1"]).ok


def test_answers_report_a_server_error() -> None:
    assert check_answers({"vote:200": 5, "vote:conn": 1}).ok
    check = check_answers({"vote:200": 5, "comment:5xx": 2})
    assert not check.ok
    assert "comment:5xx ×2" in check.detail
