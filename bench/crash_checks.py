"""The invariants the crash harness (bench/crash_harness.py) checks once every process has been
killed and restarted: nothing acknowledged was lost, nothing was done twice, nothing is stuck.

Each check reads the store (and what the load and the SMTP server recorded) and returns an
``Invariant``; none of them changes anything, so they can be pointed at any store, such as the
broken ones of tests/test_crash_harness.py that prove each check can fail.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import lzma
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import orjson
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bench.crash_load import LoadRecord
from dailypapers import jobs
from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.models import (
    Author,
    Comment,
    DailyEntry,
    DigestSend,
    Embedding,
    Job,
    Paper,
    PaperAuthor,
    PaperVersion,
    Subscription,
    User,
    Vote,
)

SHOWN = 8  # examples of a broken invariant named in its detail


@dataclass(frozen=True)
class Invariant:
    name: str
    ok: bool
    detail: str


def _examples(items: Iterable[object]) -> str:
    shown = list(items)
    more = f" … (+{len(shown) - SHOWN})" if len(shown) > SHOWN else ""
    return ", ".join(str(item) for item in shown[:SHOWN]) + more


def _verdict(name: str, problems: Mapping[str, Sequence[object]], fine: str) -> Invariant:
    """Broken when any list of ``problems`` is not empty; the detail names each kind."""
    found = {kind: items for kind, items in problems.items() if items}
    if not found:
        return Invariant(name, True, fine)
    detail = "; ".join(f"{len(v)} {k}: {_examples(v)}" for k, v in found.items())
    return Invariant(name, False, detail)


def _user_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    rows = session.execute(select(User.username, User.id).where(User.username.in_(set(names))))
    return dict(rows.all())


def _paper_ids(session: Session, arxiv_ids: Iterable[str]) -> dict[str, int]:
    rows = session.execute(select(Paper.arxiv_id, Paper.id).where(Paper.arxiv_id.in_(arxiv_ids)))
    return dict(rows.all())


def check_votes(session: Session, votes: Mapping[tuple[str, str], bool | None]) -> Invariant:
    """The last answered vote or un-vote of each (user, paper) is what the store holds; a pair
    whose last request went unanswered may be either way."""
    users = _user_ids(session, (user for user, _ in votes))
    papers = _paper_ids(session, {paper for _, paper in votes})
    stored = {(u, p) for u, p in session.execute(select(Vote.user_id, Vote.paper_id))}
    lost, undone, known = [], [], 0
    for (user, paper), voted in sorted(votes.items()):
        if voted is None:
            continue
        known += 1
        present = (users.get(user), papers.get(paper)) in stored
        if voted and not present:
            lost.append(f"{user}→{paper}")
        elif not voted and present:
            undone.append(f"{user}→{paper}")
    return _verdict(
        "acknowledged votes stored",
        {"acknowledged votes missing": lost, "acknowledged un-votes undone": undone},
        f"{known} (user, paper) pairs with an answered last action, all as answered",
    )


def check_vote_counters(session: Session, shown: Mapping[str, int] | None = None) -> Invariant:
    """Every paper's vote counter equals its vote rows, and (when ``shown`` is given, the
    upvotes the API answered per arXiv id) the shown count is imported + local rows."""
    rows = dict(session.execute(select(Vote.paper_id, func.count()).group_by(Vote.paper_id)).all())
    papers = session.execute(
        select(Paper.id, Paper.arxiv_id, Paper.local_upvotes, Paper.external_upvotes)
    ).all()
    off, wrong_shown, checked = [], [], 0
    for paper_id, arxiv_id, local, external in papers:
        checked += 1
        if local != rows.get(paper_id, 0):
            off.append(f"{arxiv_id}: counter {local}, rows {rows.get(paper_id, 0)}")
        if shown is not None and arxiv_id in shown:
            expected = external + rows.get(paper_id, 0)
            if shown[arxiv_id] != expected:
                wrong_shown.append(f"{arxiv_id}: shown {shown[arxiv_id]}, rows say {expected}")
    return _verdict(
        "vote counters = vote rows = shown counts",
        {"counters off": off, "shown counts off": wrong_shown},
        f"{checked} papers, {sum(rows.values())} vote rows; "
        f"{len(shown or {})} shown counts read back",
    )


def check_comments(session: Session, comments: Mapping[str, bool | None]) -> Invariant:
    """An answered comment is stored exactly once, a refused one not at all, one in flight at
    most once."""
    counts = Counter(
        session.scalars(select(Comment.body).where(Comment.body.in_(list(comments)))).all()
    )
    lost, doubled, refused_stored = [], [], []
    for body, stored in comments.items():
        times = counts.get(body, 0)
        if times > 1:
            doubled.append(f"{body!r} ×{times}")
        elif stored is True and times == 0:
            lost.append(repr(body))
        elif stored is False and times:
            refused_stored.append(repr(body))
    acknowledged = sum(1 for stored in comments.values() if stored)
    return _verdict(
        "acknowledged comments stored once",
        {"lost": lost, "doubled": doubled, "refused but stored": refused_stored},
        f"{acknowledged} acknowledged, {len(comments) - acknowledged} refused or unanswered",
    )


def check_submissions(session: Session, submissions: Mapping[str, str]) -> Invariant:
    """A submission answered 200 (or 409 after an unanswered try: the first went through) is
    on the daily list exactly once."""
    rows = Counter(
        session.scalars(
            select(Paper.arxiv_id).join(DailyEntry).where(Paper.arxiv_id.in_(list(submissions)))
        ).all()
    )
    owed = [i for i, state in submissions.items() if state in ("200", "409")]
    lost = [i for i in owed if rows.get(i, 0) == 0]
    doubled = [f"{i} ×{n}" for i, n in rows.items() if n > 1]
    unsettled = [i for i, state in submissions.items() if state == "?"]
    return _verdict(
        "acknowledged submissions listed once",
        {"lost": lost, "doubled": doubled, "never answered": unsettled},
        f"{len(owed)} acknowledged, each on the list once",
    )


def check_jobs(session: Session, now: dt.datetime, lease_seconds: float) -> Invariant:
    """No job is left "running" (its worker was killed and a restarted one must have taken it
    past the lease), none is overdue in the queue, none failed for good. Embedding jobs wait
    for a model the harness does not install, so they are not counted as overdue."""
    rows = session.execute(select(Job.id, Job.kind, Job.state, Job.run_after, Job.last_error)).all()
    running, overdue, failed = [], [], []
    states: Counter[str] = Counter()
    for job_id, kind, state, run_after, error in rows:
        states[state] += 1
        if state == "running":
            running.append(f"{kind} #{job_id}")
        elif state == "queued" and kind != jobs.EMBED_JOB:
            late = (now - run_after).total_seconds()
            if late > lease_seconds:
                overdue.append(f"{kind} #{job_id} ({late:.0f} s late)")
        elif state == "failed":
            failed.append(f"{kind} #{job_id}: {(error or '')[:80]}")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    return _verdict(
        "no job stuck or failed",
        {"still running": running, "overdue in the queue": overdue, "failed": failed},
        f"jobs {summary or 'none'}",
    )


def check_embedding_work(session: Session) -> Invariant:
    """Every paper has its embedding or a pending job to make it: the job is queued in the
    write that stores the paper, so a kill between the two must not leave a paper that is
    never embedded (the harness installs no model, so the jobs wait)."""
    papers = set(session.scalars(select(Paper.id)))
    embedded = set(session.scalars(select(Embedding.paper_id)))
    pending = {
        int(payload.get("paper_id", -1))
        for payload in session.scalars(
            select(Job.payload).where(
                Job.kind == jobs.EMBED_JOB, Job.state.in_(jobs.PENDING_STATES)
            )
        )
    }
    orphans = sorted(papers - embedded - pending)
    return _verdict(
        "every paper embedded or queued for it",
        {"papers with neither": orphans},
        f"{len(papers)} papers: {len(papers & embedded)} embedded, "
        f"{len((papers - embedded) & pending)} queued",
    )


def check_digests(
    session: Session, messages: Sequence[EmailMessage], periods: Sequence[str], worker_kills: int
) -> Invariant:
    """Every active daily subscription has a send row for each period, sent and received; a
    message received twice is the one a killed worker had in flight (the same Message-ID and
    text, at most one per kill); no message is received that no send row names."""
    sends = session.execute(
        select(
            DigestSend.id,
            DigestSend.period_key,
            DigestSend.state,
            DigestSend.message_id,
            DigestSend.subscription_id,
        )
        .where(DigestSend.period_key.in_(list(periods)))
        .order_by(DigestSend.id)
    ).all()
    active = set(
        session.scalars(
            select(Subscription.id).where(
                Subscription.cadence == "daily",
                Subscription.confirmed_at.is_not(None),
                Subscription.unsubscribed_at.is_(None),
                Subscription.deactivated_at.is_(None),
            )
        )
    )
    scheduled = {(period, subscription) for _, period, _, _, subscription in sends}
    unscheduled = [
        f"{period} s{subscription}"
        for period in periods
        for subscription in sorted(active)
        if (period, subscription) not in scheduled
    ]
    received = Counter(str(message["Message-ID"]) for message in messages)
    contents: dict[str, set[str]] = {}
    for message in messages:
        contents.setdefault(str(message["Message-ID"]), set()).add(_text(message))
    by_id: dict[str, str] = {}
    not_sent, lost = [], []
    for send_id, period, state, message_id, _ in sends:
        if state != "sent":
            not_sent.append(f"#{send_id} {period} {state}")
            continue
        by_id[message_id or ""] = period
        if received.get(message_id or "", 0) == 0:
            lost.append(f"#{send_id} {period}")
    repeated = [f"{m} ×{n}" for m, n in received.items() if n > 1 and m in by_id]
    repeats = sum(n - 1 for m, n in received.items() if m in by_id)
    unknown = [m for m in received if m not in by_id]
    problems: dict[str, Sequence[object]] = {
        "never scheduled": unscheduled,
        "not sent": not_sent,
        "sent but never received": lost,
        "received from no send row": unknown,
        "repeated with other content": [m for m, texts in contents.items() if len(texts) > 1],
    }
    if repeats > worker_kills:
        problems[f"repeated (more than the {worker_kills} worker kills allow)"] = repeated
    periods_with_rows = len(set(by_id.values()))
    return _verdict(
        "every digest mailed once per subscription and period",
        problems,
        f"{len(periods)} periods ({periods_with_rows} with send rows), {len(by_id)} sent, "
        f"{sum(received.values())} received; {repeats} in-flight repeats after "
        f"{worker_kills} worker kills, each with its Message-ID and content",
    )


def _text(message: EmailMessage) -> str:
    """What the reader sees: the plain-text body (HTML when there is none)."""
    body = message.get_body(preferencelist=("plain", "html"))
    return str(body.get_content()) if isinstance(body, EmailMessage) else ""


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    return path.open("rb")


def snapshot_ids(path: Path) -> Iterator[str]:
    """The canonical arXiv ids of a snapshot file, in file order (unparseable ones skipped)."""
    with _open(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            raw = orjson.loads(line).get("id")
            try:
                yield parse_arxiv_id(str(raw)).id
            except ArxivIdError:
                continue


# What an arXiv record decides about a paper: a resumed ingest must leave exactly this.
INGESTED = (
    Paper.version,
    Paper.title,
    Paper.abstract,
    Paper.title_raw,
    Paper.abstract_raw,
    Paper.author_names,
    Paper.authors_text,
    Paper.categories,
    Paper.comments,
    Paper.journal_ref,
    Paper.doi,
    Paper.license,
    Paper.listing_date,
    Paper.published_at,
    Paper.revised_at,
    Paper.withdrawn_at,
    Paper.metadata_hash,
)


def ingested_papers(session: Session, arxiv_ids: Collection[str]) -> dict[str, tuple[object, ...]]:
    """Per arXiv id: the fields the record sets, the authors in order, the versions."""
    papers = {
        row[0]: row[1:]
        for row in session.execute(
            select(Paper.arxiv_id, Paper.id, *INGESTED).where(Paper.arxiv_id.in_(arxiv_ids))
        )
    }
    ids = {fields[0]: arxiv_id for arxiv_id, fields in papers.items()}
    authors: dict[str, list[str]] = {}
    for paper_id, name in session.execute(
        select(PaperAuthor.paper_id, Author.name)
        .join(Author, Author.id == PaperAuthor.author_id)
        .where(PaperAuthor.paper_id.in_(ids))
        .order_by(PaperAuthor.paper_id, PaperAuthor.position)
    ):
        authors.setdefault(ids[paper_id], []).append(name)
    versions: dict[str, list[tuple[int, object]]] = {}
    for paper_id, version, submitted in session.execute(
        select(PaperVersion.paper_id, PaperVersion.version, PaperVersion.submitted_at)
        .where(PaperVersion.paper_id.in_(ids))
        .order_by(PaperVersion.paper_id, PaperVersion.version)
    ):
        versions.setdefault(ids[paper_id], []).append((version, submitted))
    return {
        arxiv_id: (*fields[1:], authors.get(arxiv_id, []), versions.get(arxiv_id, []))
        for arxiv_id, fields in papers.items()
    }


def check_ingest(
    session: Session, snapshot: Path, reference: Mapping[str, tuple[object, ...]] | None = None
) -> Invariant:
    """After killed ingests and a rerun to the end, every paper of the file is stored exactly
    once and (given ``reference``, what one uninterrupted ingest of the file stored) with the
    same fields, authors and versions: a resumed batch is neither skipped nor half applied."""
    wanted = set(snapshot_ids(snapshot))
    stored = Counter(
        session.scalars(select(Paper.arxiv_id).where(Paper.arxiv_id.in_(wanted))).all()
    )
    missing = sorted(wanted - set(stored))
    doubled = [f"{i} ×{n}" for i, n in stored.items() if n > 1]
    differ: list[str] = []
    if reference is not None:
        ours = ingested_papers(session, wanted)
        differ = sorted(i for i in wanted if i in ours and ours[i] != reference.get(i))
    compared = " and as an uninterrupted ingest stored them" if reference is not None else ""
    return _verdict(
        "every paper of the killed ingest stored once",
        {"missing": missing, "doubled": doubled, "unlike an uninterrupted ingest": differ},
        f"{len(wanted)} papers in the file, all stored once{compared}",
    )


def check_integrity(engine: Engine) -> Invariant:
    """SQLite: ``PRAGMA integrity_check`` and FTS5's own check of the lexical index against
    the papers. PostgreSQL: every B-tree index checked against its table by amcheck."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            answers = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
            problems = [a for a in answers if a != "ok"]
            try:
                connection.exec_driver_sql(
                    "INSERT INTO papers_fts(papers_fts, rank) VALUES ('integrity-check', 1)"
                )
            except Exception as exc:  # FTS5 reports a mismatch as an SQL error
                problems.append(f"papers_fts: {exc}")
            connection.rollback()
            return _verdict(
                "database integrity",
                {"integrity errors": problems},
                "PRAGMA integrity_check ok, FTS5 integrity-check ok",
            )
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
        indexes = connection.execute(
            text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE a.amname = 'btree' AND n.nspname = 'public'"
            )
        ).scalars()
        problems = []
        names = list(indexes)
        for name in names:
            try:
                connection.execute(
                    text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": name}
                )
            except Exception as exc:
                problems.append(f"{name}: {str(exc).splitlines()[0]}")
                connection.rollback()
        connection.commit()
    return _verdict(
        "database integrity",
        {"index errors": problems},
        f"amcheck bt_index_check(heapallindexed) ok on {len(names)} B-tree indexes",
    )


def check_answers(outcomes: Mapping[str, int]) -> Invariant:
    """No request was answered with a server error: a kill may cut a connection, it must not
    leave the restarted server failing requests (a locked database, a half-made row)."""
    errors = [f"{kind} ×{n}" for kind, n in sorted(outcomes.items()) if kind.endswith(":5xx")]
    cut = sum(n for kind, n in outcomes.items() if kind.endswith(":conn"))
    return _verdict(
        "no server error answered",
        {"5xx answers": errors},
        f"{sum(outcomes.values())} requests, {cut} unanswered (server down or killed), no 5xx",
    )


def check_exits(unexpected: Sequence[str]) -> Invariant:
    """A process died only when the harness killed it (a crash of its own is a defect too)."""
    return _verdict(
        "no process died on its own", {"unexpected exits": unexpected}, "only the kills"
    )


@dataclass
class Evidence:
    """What the run knows besides the store: what the load was answered, what SMTP received."""

    record: LoadRecord
    messages: Sequence[EmailMessage]
    periods: Sequence[str]
    worker_kills: int
    snapshot: Path
    lease_seconds: float
    shown: Mapping[str, int] | None = None  # upvotes the API shows, by arXiv id
    reference: Mapping[str, tuple[object, ...]] | None = None  # see check_ingest
    unexpected: Sequence[str] = ()


def check_all(engine: Engine, evidence: Evidence) -> list[Invariant]:
    """Every invariant, in the order the report lists them."""
    record = evidence.record
    with Session(engine) as session:
        checks = [
            check_votes(session, record.votes),
            check_vote_counters(session, evidence.shown),
            check_comments(session, record.comments),
            check_submissions(session, record.submissions),
            check_jobs(session, jobs.utc_clock(), evidence.lease_seconds),
            check_embedding_work(session),
            check_digests(session, evidence.messages, evidence.periods, evidence.worker_kills),
            check_ingest(session, evidence.snapshot, evidence.reference),
        ]
    return [
        *checks,
        check_integrity(engine),
        check_answers(record.outcomes),
        check_exits(evidence.unexpected),
    ]
