"""Putting a paper on the Daily Papers list: by arXiv id or any arXiv URL (service).

Rules are settings: a per-account daily cap (SUBMIT_DAILY_CAP), an age window
(SUBMIT_MAX_AGE_DAYS, from the arXiv publication date), one entry per paper (a duplicate is
refused with a link to the existing one). A paper not in the store yet is fetched through the
arXiv API source by :func:`look_up`, before and outside the write transaction of :func:`submit`:
arXiv may take seconds to answer, and on SQLite a write transaction is the one writer lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.community import add_comment
from dailypapers.config import Settings
from dailypapers.ingest.http import SourceUnavailableError
from dailypapers.ingest.run import apply_arxiv_batch, make_client
from dailypapers.ingest.sources.arxiv_api import fetch_api_pages
from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import ArxivRaw, SourceFormatError
from dailypapers.ingest.upsert import IngestStats
from dailypapers.ingest.upsert_arxiv import ArxivUpserter
from dailypapers.models import DailyEntry, Org, OrgMember, User
from dailypapers.papers import get_paper
from dailypapers.ranking import trending_score


class SubmissionError(ValueError):
    """Why a submission was refused; ``existing`` links to the entry that is already there."""

    def __init__(self, message: str, existing: str | None = None) -> None:
        super().__init__(message)
        self.existing = existing


class ArxivLookupError(SubmissionError):
    """arXiv could not be asked, or answered something that is not a feed (a 502, not the
    submitter's fault)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """A parsed submission: the canonical id and, for a paper not yet stored, arXiv's records."""

    arxiv_id: str
    fetched: list[ArxivRaw | SourceError] = field(default_factory=list)


def look_up(session: Session, settings: Settings, text: str) -> Lookup:
    """Parse the id and fetch the paper from arXiv when the store lacks it. The session's read
    transaction ends first, so nothing (connection, snapshot, lock) is held while arXiv answers."""
    try:
        arxiv_id = parse_arxiv_id(text.strip()).id
    except ArxivIdError as exc:
        raise SubmissionError(str(exc)) from None
    stored = get_paper(session, arxiv_id, include_hidden=True) is not None
    session.rollback()
    if not stored and settings.offline:
        raise SubmissionError(
            f"{arxiv_id} is not in this site's store, and the site does not ask arXiv (OFFLINE)."
        )
    return Lookup(arxiv_id, [] if stored else _fetch(settings, arxiv_id))


def _fetch(settings: Settings, arxiv_id: str) -> list[ArxivRaw | SourceError]:
    client = make_client(settings)
    try:
        pages = fetch_api_pages(client, settings.arxiv_api_url, id_list=[arxiv_id])
        return [item for page in pages for item in page.items]
    except SourceUnavailableError as exc:
        raise ArxivLookupError(f"arXiv could not be reached to look up {arxiv_id}: {exc}") from None
    except SourceFormatError as exc:
        message = f"arXiv's answer about {arxiv_id} could not be read: {exc}"
        raise ArxivLookupError(message) from None
    finally:
        client.close()


def submit(
    session: Session,
    settings: Settings,
    user: User,
    lookup: Lookup,
    *,
    comment: str = "",
    organization: str = "",
    now: dt.datetime,
) -> DailyEntry:
    """Put the looked-up paper on today's list, in the caller's (short) write transaction."""
    arxiv_id = lookup.arxiv_id
    org = None
    if organization.strip():
        org = session.scalar(select(Org).where(Org.name == organization.strip().lower()))
        member = session.get(OrgMember, (org.id, user.id)) if org is not None else None
        if org is None or member is None or member.role == "invited":
            raise SubmissionError(
                f"You are not a member of an organization named {organization!r}."
            )
    if lookup.fetched:
        apply_arxiv_batch(ArxivUpserter(), session, lookup.fetched, IngestStats(), now)
    paper = get_paper(session, arxiv_id, include_hidden=True)
    if paper is None:
        raise SubmissionError(f"arXiv has no paper {arxiv_id}.")
    if paper.hidden_at is not None:
        raise SubmissionError(f"{arxiv_id} was removed from this site by its moderators.")
    if paper.daily_entry is not None:
        entry = paper.daily_entry
        raise SubmissionError(
            f"{arxiv_id} is already on the list (since {entry.feed_date:%b %-d, %Y}).",
            existing=f"/papers/{arxiv_id}",
        )
    # The list's day, not the clock's: with TODAY fixed (a demo) a submission joins that list.
    feed_date = settings.current_date()
    oldest = feed_date - dt.timedelta(days=settings.submit_max_age_days)
    published = paper.published_at
    if published is not None and published.astimezone(settings.tz).date() < oldest:
        raise SubmissionError(
            f"{arxiv_id} was published on {published:%b %-d, %Y}: only papers from the last "
            f"{settings.submit_max_age_days} days can be submitted."
        )
    start = dt.datetime.combine(now.astimezone(settings.tz).date(), dt.time(), tzinfo=settings.tz)
    submitted_today = session.scalar(
        select(func.count())
        .select_from(DailyEntry)
        .where(DailyEntry.submitter_id == user.id, DailyEntry.submitted_at >= start)
    )
    if (submitted_today or 0) >= settings.submit_daily_cap:
        raise SubmissionError(
            f"You have submitted {settings.submit_daily_cap} papers today, the daily limit."
        )
    entry = DailyEntry(
        paper_id=paper.id,
        feed_date=feed_date,
        submitted_at=now,
        submitter_id=user.id,
        organization_id=org.id if org is not None else None,
        created_at=now,
    )
    session.add(entry)
    paper.trending_score = trending_score(paper.upvotes, now, settings.trending_window_hours)
    session.flush()
    session.refresh(paper)
    if comment.strip():
        add_comment(session, user, paper, comment, now=now)
    return entry
