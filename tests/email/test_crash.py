"""A worker killed (SIGKILL) in the middle of a 500-recipient send, twice, then restarted:
every subscriber ends with the period's mail, and only a message in flight at a kill repeats,
under the same Message-ID."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.digests.schedule import schedule_period
from dailypapers.models import DigestSend
from tests.factories import add_subscription
from tests.support.database import database_env
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.both_backends


SUBSCRIBERS = 500
KILLS_AT = (150, 320)  # messages received at the server when each worker is killed
LEASE_SECONDS = 1.5


def _worker_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "dailypapers.cli", "worker", *extra]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update(
        DAILYPAPERS_DATA_DIR=str(settings.data_dir),
        **database_env(settings),
        DAILYPAPERS_TODAY=str(settings.today),
        DAILYPAPERS_BASE_URL=settings.base_url,
        DAILYPAPERS_SMTP_HOST=settings.smtp_host,
        DAILYPAPERS_SMTP_PORT=str(settings.smtp_port),
        DAILYPAPERS_DIGEST_ENABLED="false",
        DAILYPAPERS_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        DAILYPAPERS_WORKER_POLL_SECONDS="0.1",
        DAILYPAPERS_DIGEST_CHUNK_SIZE="200",
        DAILYPAPERS_JOB_RETRY_BASE_SECONDS="0.2",
        DAILYPAPERS_JOB_RETRY_CAP_SECONDS="1",
    )
    return env


def _wait_for(smtp: SmtpRecorder, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while smtp.count() < count:
        assert process.poll() is None, "the worker stopped before it was killed"
        assert time.monotonic() < deadline, f"only {smtp.count()} messages arrived"
        time.sleep(0.005)


def test_killed_workers_lose_no_mail_and_repeat_only_the_one_in_flight(
    mail_settings: Settings, smtp: SmtpRecorder, tmp_path: Path
) -> None:
    engine = make_engine(mail_settings)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        for i in range(SUBSCRIBERS):
            add_subscription(session, f"reader{i:03d}@example.org")
        assert schedule_period(session, mail_settings, "daily:2026-02-10", dt.datetime.now(dt.UTC))
    smtp.delay_seconds = 0.004  # ~2 s for the whole period: room to kill in the middle

    env = _env(mail_settings)
    for kill_at in KILLS_AT:
        worker = subprocess.Popen(
            _worker_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(smtp, kill_at, worker)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert smtp.count() < SUBSCRIBERS, "the kills came after the send had finished"

    time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out
    # A row still "sending" by a dead worker whose claim is not yet stale comes back in a
    # follow-up job: rerun until nothing is left (each run drains the jobs due by then).
    deadline = time.monotonic() + 120
    while True:
        rerun = subprocess.run(
            _worker_command("--once"), env=env, capture_output=True, text=True, timeout=300
        )
        with factory() as session:
            states = set(session.scalars(select(DigestSend.state)))
        if states == {"sent"} or time.monotonic() > deadline:
            break
        time.sleep(LEASE_SECONDS)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    ids = Counter(str(message["Message-ID"]) for message in smtp.messages)
    recipients = {str(message["To"]) for message in smtp.messages}
    assert len(ids) == SUBSCRIBERS  # one distinct message per subscriber
    assert recipients == {f"reader{i:03d}@example.org" for i in range(SUBSCRIBERS)}
    repeats = sum(ids.values()) - len(ids)
    assert repeats <= len(KILLS_AT)  # at most the message in flight at each kill
    for message_id, count in ids.items():
        if count > 1:  # a repeat carries the same Message-ID and the same content
            texts = {
                m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                for m in smtp.messages
                if m["Message-ID"] == message_id
            }
            assert len(texts) == 1
    with factory() as session:
        assert set(session.scalars(select(DigestSend.state))) == {"sent"}
    engine.dispose()
