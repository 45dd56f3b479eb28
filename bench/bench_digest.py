"""Digest delivery: 10,000 subscribers composed and sent to a local SMTP server, vs. a baseline.

Store: the 75k arXiv cs listings (when ``../shared/data`` is there) plus the bundled Hugging Face
month, in a fresh SQLite file. Subscribers: 10,000 confirmed, 5,000 of them with a topic query
drawn from 500 distinct queries (frequent title words and word pairs of the store), all on the
same cadence, so one period reaches every one of them.

- digest run: ``schedule_period`` claims the period for every subscriber and queues the send
  jobs; one worker in this process runs them (compose: each distinct topic searched once;
  render text + HTML; send over one SMTP connection per job; a commit per message).
- baseline, same run: the same 10,000 messages rendered beforehand, sent over one SMTP
  connection with ``smtplib`` and nothing else.
The SMTP server (aiosmtpd) runs in its own process and counts messages and distinct Message-IDs.

Usage: python -m bench.bench_digest [--subscribers N] [--period KEY] [--corpus PATH | --no-corpus]
       [--no-append]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import email.policy
import itertools
import multiprocessing
import random
import re
import secrets
import smtplib
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.common import append_section
from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.digests.compose import in_order, load_papers
from dailypapers.digests.render import DigestRenderer
from dailypapers.digests.schedule import period_counts, schedule_period
from dailypapers.ingest.run import load_hf_daily, load_snapshot
from dailypapers.models import DigestSend, Paper, Subscription
from dailypapers.periods import parse_digest_period
from dailypapers.worker import Worker

SHARED_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared/data/arxiv_cs_listings_2025-03_2026-07.jsonl.xz"
)
TARGET_SECONDS = 60.0
SMTP_LINES = email.policy.compat32.clone(linesep="\r\n")  # what smtplib.send_message writes
STOPWORDS = {
    "with",
    "from",
    "that",
    "this",
    "their",
    "through",
    "towards",
    "using",
    "based",
    "into",
    "over",
    "under",
    "between",
    "large",
    "model",
    "models",
    "learning",
    "via",
    "for",
    "and",
    "the",
    "of",
    "in",
    "on",
    "to",
    "a",
    "an",
    "by",
    "is",
    "are",
    "as",
    "at",
}
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _smtp_server(port: int, ready: Any, stop: Any, report: Connection) -> None:
    """aiosmtpd in its own process: accept everything, count messages and Message-IDs."""
    from aiosmtpd.controller import Controller

    ids: list[bytes] = []

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            match = _MESSAGE_ID.search(envelope.content)
            ids.append(match[1] if match else b"")
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    report.send((len(ids), len(set(ids))))


class SmtpProcess:
    def __init__(self) -> None:
        self.port = _free_port()
        context = multiprocessing.get_context("spawn")
        self.ready, self.stop = context.Event(), context.Event()
        self.receive, send = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_smtp_server, args=(self.port, self.ready, self.stop, send), daemon=True
        )

    def __enter__(self) -> SmtpProcess:
        self.process.start()
        if not self.ready.wait(30):
            raise RuntimeError("the SMTP server did not start")
        return self

    def counts(self) -> tuple[int, int]:
        """Stop the server and return (messages, distinct Message-IDs)."""
        self.stop.set()
        counts: tuple[int, int] = self.receive.recv()
        self.process.join(30)
        return counts

    def __exit__(self, *_exc: object) -> None:
        if self.process.is_alive():
            self.process.kill()


def _topic_queries(session: Any, count: int, rng: random.Random) -> list[str]:
    """Frequent title words and word pairs of the store: queries that match something."""
    words: collections.Counter[str] = collections.Counter()
    pairs: collections.Counter[str] = collections.Counter()
    for title in session.scalars(select(Paper.title).limit(40_000)):
        tokens = [t for t in re.findall(r"[a-z]{4,}", title.lower()) if t not in STOPWORDS]
        words.update(tokens)
        pairs.update(f'"{a} {b}"' for a, b in itertools.pairwise(tokens))
    chosen = [w for w, _ in words.most_common(count // 2)]
    chosen += [p for p, _ in pairs.most_common(count - len(chosen))]
    rng.shuffle(chosen)
    return chosen[:count]


def _prepare(folder: Path, corpus: Path | None, subscribers: int, cadence: str) -> Settings:
    settings = Settings(
        data_dir=folder, today=dt.date(2026, 2, 27), base_url="https://papers.example.org"
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    if corpus is not None:
        started = time.perf_counter()
        load_snapshot(factory, corpus, parallel=True)
        print(f"corpus loaded in {time.perf_counter() - started:.1f} s")
    load_hf_daily(factory, settings, DEMO_DAILY_PAPERS)
    rng = random.Random(7)
    with factory.begin() as session:
        queries = _topic_queries(session, 500, rng)
        rows = [
            {
                "email": f"reader{i:05d}@example.org",
                "email_key": f"reader{i:05d}@example.org",
                "cadence": cadence,
                "topic_query": queries[i % len(queries)] if i % 2 else "",
                "paper_count": 10,
                "unsubscribe_token": secrets.token_urlsafe(32),
                "hard_failures": 0,
                "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "confirmed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            }
            for i in range(subscribers)
        ]
        session.execute(insert(Subscription), rows)
    engine.dispose()
    print(f"{subscribers} subscribers, {len(queries)} distinct topic queries")
    return settings


def _digest_run(settings: Settings, period: str) -> tuple[float, int, int, dict[str, int]]:
    with SmtpProcess() as smtp:
        run_settings = settings.model_copy(
            # Only the period under test: the worker must not also send the schedule's digest
            # of the fixed TODAY.
            update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "digest_enabled": False}
        )
        engine = make_engine(run_settings)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        with factory.begin() as session:
            schedule_period(session, run_settings, period, dt.datetime.now(dt.UTC))
        stats = Worker(run_settings, engine, factory).run_once()
        seconds = time.perf_counter() - started
        with factory() as session:
            states = period_counts(session, period)
        engine.dispose()
        messages, distinct = smtp.counts()
    assert stats.failed == 0, stats.errors
    return seconds, messages, distinct, states


def _prerender(settings: Settings, period: str) -> list[tuple[str, bytes]]:
    """The same messages, rendered ahead of time from the frozen paper lists."""
    engine = make_engine(settings)
    renderer = DigestRenderer(settings)
    _, window = parse_digest_period(period)
    out = []
    with make_session_factory(engine)() as session:
        sends = session.scalars(select(DigestSend).where(DigestSend.period_key == period)).all()
        papers = load_papers(session, {i for send in sends for i in send.paper_ids or ()})
        for send in sends:
            subscription = send.subscription
            parts = renderer.digest(
                subscription,
                period_key=period,
                period_label=window.label,
                papers=in_order(papers, send.paper_ids or ()),
                note=send.note,
            )
            message = renderer.digest_message(subscription, parts, message_id=send.message_id or "")
            out.append((subscription.email, message.as_bytes(policy=SMTP_LINES)))
    engine.dispose()
    return out


def _baseline(messages: list[tuple[str, bytes]]) -> tuple[float, int, int]:
    with SmtpProcess() as smtp:
        started = time.perf_counter()
        connection = smtplib.SMTP("127.0.0.1", smtp.port)
        for recipient, body in messages:
            connection.sendmail("digest@localhost", [recipient], body)
        connection.quit()
        seconds = time.perf_counter() - started
        received, distinct = smtp.counts()
    return seconds, received, distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--period", default="daily:2026-02-10")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=SHARED_CORPUS if SHARED_CORPUS.exists() else None,
        help="arXiv listings file loaded first (default: the shared 75k file when present)",
    )
    parser.add_argument("--no-corpus", action="store_true", help="only the bundled HF month")
    parser.add_argument("--no-append", action="store_true", help="print, do not append")
    args = parser.parse_args()
    if args.no_corpus:
        args.corpus = None
    cadence, _ = parse_digest_period(args.period)
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as folder:
        settings = _prepare(Path(folder), args.corpus, args.subscribers, cadence)
        seconds, received, distinct, states = _digest_run(settings, args.period)
        rendered = _prerender(settings, args.period)
        base_seconds, base_received, base_distinct = _baseline(rendered)
    sizes = sorted(len(body) for _, body in rendered)
    rate, base_rate = received / seconds, base_received / base_seconds
    verdict = "meets" if seconds <= TARGET_SECONDS and distinct == args.subscribers else "MISSES"
    corpus = args.corpus.name if args.corpus else "none"
    lines = [
        f"Store: {corpus} + the bundled HF month; {args.subscribers:,} confirmed subscribers on "
        f"`{args.period}`, half with a topic query (500 distinct); aiosmtpd in its own process; "
        f"one worker. Message size median {sizes[len(sizes) // 2] / 1024:.1f} KiB.",
        "",
        f"digest delivery ({args.subscribers:,} subscribers): {rate:,.0f} messages/s "
        f"({seconds:.1f} s end to end: claim, compose, render, send, commit each; "
        f"{received:,} received, {distinct:,} distinct Message-IDs; rows {states})",
        "",
        f"baseline, the same {len(rendered):,} pre-rendered messages over one SMTP connection: "
        f"{base_rate:,.0f} messages/s ({base_seconds:.1f} s; {base_distinct:,} distinct)",
        "",
        f"Delivery {seconds:.1f} s: {verdict} the ≤ {TARGET_SECONDS:.0f} s target; "
        f"{rate / base_rate:.2f}× the baseline's rate.",
    ]
    title = f"Digest delivery, {args.subscribers:,} subscribers (bench/bench_digest.py)"
    if args.no_append:
        print("\n".join(lines))
    else:
        append_section(title, lines)


if __name__ == "__main__":
    main()
