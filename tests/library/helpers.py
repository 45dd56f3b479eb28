"""Shared by the import and export tests: demo papers with plain titles, running the library's
jobs through the real worker loop, and a fake arXiv to fetch from."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.library import imports
from dailypapers.models import Job, LibraryImport, Paper, Save, User
from dailypapers.worker import Worker, WorkerStats
from tests.factories import make_user
from tests.support.database import make_settings
from tests.support.fake_remotes import FakeRemote

NOW = dt.datetime(2026, 2, 27, 9, tzinfo=dt.UTC)
# In tests/data/arxiv_api/id_list.xml, which the fake arXiv answers to any id_list; none of
# them is in the demo month.
FETCHABLE = "2606.22527"
_PLAIN = re.compile(r"[A-Za-z0-9 :,-]+")


def user_named(session: Session, settings: Settings, name: str) -> User:
    user = session.get(User, make_user(settings, name))
    assert user is not None
    return user


def plain_papers(session: Session, n: int, *, skip: int = 0) -> list[Paper]:
    """Demo papers whose titles need no escaping in any format, by id."""
    papers = [
        p for p in session.scalars(select(Paper).order_by(Paper.id)) if _PLAIN.fullmatch(p.title)
    ]
    return papers[skip : skip + n]


def saved_ids(session: Session, user: User) -> set[str]:
    return set(
        session.scalars(
            select(Paper.arxiv_id)
            .join(Save, Save.paper_id == Paper.id)
            .where(Save.user_id == user.id)
        )
    )


def outcomes(session: Session, import_id: int) -> list[tuple[Any, ...]]:
    """(index, line, outcome, arxiv_id, matched_by) of each entry, as stored."""
    session.expire_all()
    library_import = session.get(LibraryImport, import_id)
    assert library_import is not None
    return [
        (o["index"], o["line"], o["outcome"], o["arxiv_id"], o["matched_by"])
        for o in library_import.outcomes
    ]


def run_library_jobs(
    settings: Settings, *, step: dt.timedelta = dt.timedelta(hours=2)
) -> WorkerStats:
    """Run the due library jobs (retries too: the clock moves ``step`` at every look)."""
    engine = make_engine(settings)
    moments = iter(NOW + step * i for i in range(1, 10_000))
    worker = Worker(
        settings,
        engine,
        make_session_factory(engine),
        handlers=imports.HANDLERS,
        clock=lambda: next(moments),
    )
    stats = WorkerStats()
    while worker.run_one(stats):
        pass
    engine.dispose()
    return stats


def library_jobs(session: Session) -> list[Job]:
    session.expire_all()
    kinds = list(imports.HANDLERS)
    return list(session.scalars(select(Job).where(Job.kind.in_(kinds)).order_by(Job.id)))


@contextmanager
def fake_arxiv(settings: Settings, **overrides: object) -> Iterator[tuple[Settings, FakeRemote]]:
    with FakeRemote() as remote:
        yield (
            make_settings(
                settings.data_dir,
                database_url=settings.database_url,
                arxiv_api_url=f"{remote.url}/api/query",
                arxiv_delay_seconds=0,
                http_max_retries=0,
                **overrides,
            ),
            remote,
        )
