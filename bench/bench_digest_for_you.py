""" "For me" digests for N users against the global digest for N subscribers, in the same run.

Store: bench/bench_library.py's (a temporary copy of the cached 75k corpus + the February month,
SQLite) with the cached vectors imported. Users: N accounts, each with ``--saves`` saved papers
(a seeded sample of papers with vectors, drawn from a few "interest" clusters of the store so
profiles overlap as real ones do) and a few dismissed papers of the day; each has a daily "for
me" subscription, and N more addresses have the global (trending) daily digest. One worker in
this process sends each set through ``schedule_period`` + ``Worker.run_once`` (compose, freeze,
render, send over SMTP, a commit per message) to aiosmtpd in its own process
(bench/bench_digest.py's), the two sets back to back, alternating which goes first, on a
different period each round (so nothing is "already sent").

Usage: python -m bench.bench_digest_for_you [--users N] [--saves K] [--rounds R] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import insert, select, update

from bench.bench_digest import _digest_run
from bench.bench_library import _store
from bench.common import publish
from bench.search_store import import_vectors
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.foryou.service import reset_caches
from dailypapers.models import DailyEntry, Embedding, PaperMark, Save, Subscription, User

PERIODS = ("daily:2026-02-10", "daily:2026-02-11", "daily:2026-02-12", "daily:2026-02-13")
CREATED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _populate(settings: object, users: int, saves: int) -> dict[str, int]:
    engine = make_engine(settings)  # type: ignore[arg-type]
    factory = make_session_factory(engine)
    rng = random.Random(23)
    with factory.begin() as session:
        with_vectors = list(
            session.scalars(select(Embedding.paper_id).order_by(Embedding.paper_id))
        )
        days = {
            period: list(
                session.scalars(
                    select(DailyEntry.paper_id).where(
                        DailyEntry.feed_date == dt.date.fromisoformat(period.split(":")[1])
                    )
                )
            )
            for period in PERIODS
        }
        # Interests: 400 contiguous id ranges (papers stored together share a listing
        # day and often a topic); a user saves from two of them.
        size = max(1, len(with_vectors) // 400)
        clusters = [with_vectors[i : i + size] for i in range(0, len(with_vectors), size)]
        session.execute(
            insert(User),
            [
                {
                    "username": f"bench{i:05d}",
                    "fullname": "",
                    "email": f"bench{i:05d}@example.org",
                    "role": "user",
                    "is_external": False,
                    "created_at": CREATED,
                    "email_verified_at": CREATED,
                    "session_epoch": 0,
                    "collapse_seen": False,
                    "collapse_dismissed": True,
                }
                for i in range(users)
            ],
        )
        ids = list(session.scalars(select(User.id).where(User.username.like("bench%"))))
        save_rows, mark_rows = [], []
        for user_id in ids:
            pool = list(dict.fromkeys(rng.choice(clusters) + rng.choice(clusters)))
            for paper_id in rng.sample(pool, min(saves, len(pool))):
                save_rows.append({"user_id": user_id, "paper_id": paper_id, "saved_at": CREATED})
            for day in days.values():
                for paper_id in rng.sample(day, min(2, len(day))):
                    mark_rows.append(
                        {"user_id": user_id, "paper_id": paper_id, "dismissed_at": CREATED}
                    )
        for start in range(0, len(save_rows), 20_000):
            session.execute(insert(Save), save_rows[start : start + 20_000])
        for start in range(0, len(mark_rows), 20_000):
            session.execute(insert(PaperMark), mark_rows[start : start + 20_000])
        subscriptions = []
        for n, user_id in enumerate(ids):
            for kind, address in (
                ("for_me", f"bench{n:05d}@example.org"),
                ("list", f"global{n:05d}@example.org"),
            ):
                subscriptions.append(
                    {
                        "email": address,
                        "email_key": address,
                        "cadence": "daily",
                        "topic_query": "",
                        "kind": kind,
                        "paper_count": 10,
                        "unsubscribe_token": secrets.token_urlsafe(32),
                        "user_id": user_id if kind == "for_me" else None,
                        "hard_failures": 0,
                        "created_at": CREATED,
                        "confirmed_at": None,
                    }
                )
        session.execute(insert(Subscription), subscriptions)
    engine.dispose()
    return {"users": len(ids), "saves": len(save_rows), "vectors": len(with_vectors)}


def _run(settings: Settings, kind: str, period: str) -> tuple[float, int, int, dict[str, int]]:
    """Confirm only ``kind``'s subscriptions, then claim and send the period (cold caches)."""
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as session:
        session.execute(update(Subscription).values(confirmed_at=None))
        session.execute(
            update(Subscription).where(Subscription.kind == kind).values(confirmed_at=CREATED)
        )
    engine.dispose()
    reset_caches()  # each set starts cold: no period features, no background in memory
    return _digest_run(settings, period)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help=f"at most {len(PERIODS)}")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    rounds = min(args.rounds, len(PERIODS))
    results: dict[str, list[tuple[float, int, int]]] = {"list": [], "for_me": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-digest-for-you-") as folder,
        _store("sqlite", Path(folder)) as settings,
    ):
        import_vectors(settings)
        held = _populate(settings, args.users, args.saves)
        print(f"populated: {held}", flush=True)
        for index in range(rounds):
            order = ("list", "for_me") if index % 2 == 0 else ("for_me", "list")
            for kind in order:
                seconds, messages, distinct, states = _run(settings, kind, PERIODS[index])
                results[kind].append((seconds, messages, distinct))
                print(f"{PERIODS[index]} {kind}: {seconds:.1f} s, {messages} mails, {states}")
    lines = [
        f"Store: the 75k corpus + the February month (SQLite), {held['vectors']:,} papers with "
        f"vectors. {held['users']:,} accounts with {args.saves} saves each ({held['saves']:,} "
        "in all, from two of 400 interest clusters) and 2 dismissed papers per day; a daily "
        f'"for me" subscription each, and {held["users"]:,} global (trending) subscribers. '
        f"10 papers a mail; aiosmtpd in its own process; one worker; {rounds} rounds on "
        "successive days, the two sets back to back, alternating which goes first, cold "
        "caches for each.",
        "",
        "| digest | round times | mails/s (mean round) | mails |",
        "|---|---|---:|---:|",
    ]
    medians = {}
    for kind, label in (("list", "global (trending), baseline"), ("for_me", '"for me"')):
        runs = results[kind]
        median = sum(seconds for seconds, _, _ in runs) / len(runs)  # the mean of the rounds
        mails = [messages for _, messages, _ in runs]
        medians[kind] = median
        rate = mails[0] / median if median else 0.0
        lines.append(
            f"| {label} | {', '.join(f'{s:.1f} s' for s, _, _ in runs)} | {rate:,.0f} | "
            f"{', '.join(f'{m:,}' for m in mails)} |"
        )
    ratio = medians["for_me"] / medians["list"] if medians["list"] else float("inf")
    verdict = "meets" if ratio <= 1.0 else "MISSES"
    lines += [
        "",
        f'"for me" / global time: {ratio:.2f}× — {verdict} the target (within the global '
        "digest's throughput).",
    ]
    publish(
        f'"For me" digests, {held["users"]:,} users, vs. the global digest '
        "(bench/bench_digest_for_you.py)",
        lines,
        args.no_append,
    )


if __name__ == "__main__":
    main()
