"""Follows to webhook, end to end: a paper matching three follows is matched by the real
``match_alerts`` pipeline, queued for the user's hook and POSTed once by the real worker to a
receiver on 127.0.0.1 with every reason (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine

from dailypapers.alerts.pipeline import run_matching
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.follows import follow
from dailypapers.models import User
from dailypapers.webhooks import delivery, service
from dailypapers.webhooks.signature import verify
from dailypapers.worker import Worker
from tests.factories import add_daily_paper, make_user
from tests.support.database import db_session, make_settings
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.both_backends
NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)


@pytest.fixture
def hook_settings(settings: Settings, engine: Engine) -> Settings:
    """The migrated test store, with webhooks allowed to reach the loopback receiver."""
    return make_settings(
        settings.data_dir, database_url=settings.database_url, webhook_allow_private=True
    )


def _drain(settings: Settings) -> int:
    engine = make_engine(settings)
    worker = Worker(settings, engine, make_session_factory(engine), handlers=delivery.HANDLERS)
    done = 0
    for _ in range(50):
        stats = worker.run_once()
        done += stats.done
        if not stats.done and not stats.retried:
            break
    engine.dispose()
    return done


def test_a_paper_matching_three_follows_reaches_a_webhook_once_with_every_reason(
    hook_settings: Settings,
) -> None:
    add_daily_paper(hook_settings, arxiv_id="2602.00001", title="Older", authors=("Grace Hopper",))
    reader = make_user(hook_settings, "reader")
    with receiver() as server:
        with db_session(hook_settings) as session, session.begin():
            user = session.get(User, reader)
            assert user is not None
            target = service.check_target(hook_settings, server.url())
            secret = service.create_webhook(session, hook_settings, user, target, NOW).secret
            for kind, value in (
                ("author", "Yann LeCun"),
                ("category", "cs.CL"),
                ("search", "diffusion"),
            ):
                follow(session, reader, kind, value, NOW, channels=["webhook"])
        add_daily_paper(
            hook_settings,
            arxiv_id="2602.00002",
            title="Diffusion language models",
            abstract="We train diffusion models on text.",
            authors=("Yann LeCun", "Ada Lovelace"),
            categories=("cs.CL",),
        )
        for _ in range(2):  # a second run finds nothing new and sends nothing again
            with db_session(hook_settings) as session, session.begin():
                run_matching(session, NOW)
            _drain(hook_settings)
        (got,) = server.requests
    assert verify(secret, got.headers["X-Dailypapers-Signature"], got.body)
    (paper,) = json.loads(got.body)["papers"]
    assert paper["id"] == "2602.00002"
    assert paper["reasons"] == [
        "by Yann LeCun, whom you follow",
        "in cs.CL, which you follow",
        "matches your search “diffusion”",
    ]
