"""Store normalized records idempotently: a paper per arXiv id, one daily entry per paper.

Rules (SOURCES.md §1, DESIGN.md §3):
- a paper's daily entry is on its **earliest** feed date seen;
- the imported upvote count is the **newest reading**: the record read later wins; readings at
  the same (or an unknown) time keep the higher count; a record with no reading time is a live
  import and replaces the count. Loading files in any order, or twice, gives the same rows;
- a field the record leaves empty never wipes a stored value.
Service functions take a session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dailypapers import jobs
from dailypapers.authors.names import author_key
from dailypapers.hf_names import stored_name
from dailypapers.ingest.normalize import DailyPaperRecord, OrgRef, SubmitterRef
from dailypapers.jobs import EMBED_JOB
from dailypapers.models import Author, DailyEntry, Org, Paper, PaperAuthor, User
from dailypapers.ranking import trending_score

Outcome = Literal["new", "updated", "unchanged"]


@dataclass
class IngestStats:
    """What a load did: counts per outcome and each failure with its position."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    resumed_after: int = 0  # records skipped because an interrupted run had stored them
    deleted: int = 0  # records the source reports as deleted (skipped)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def fail(self, position: str, message: str) -> None:
        self.failed += 1
        self.errors.append(f"{position}: {message}")

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged + self.failed

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed"
        )


@dataclass(frozen=True, slots=True)
class UpvoteReading:
    count: int
    read_at: dt.datetime | None


def newest_upvotes(current: UpvoteReading | None, incoming: UpvoteReading) -> UpvoteReading:
    """Which imported upvote reading to keep (rule in the module docstring)."""
    if current is None or incoming.read_at is None:
        return incoming
    if current.read_at is not None and incoming.read_at != current.read_at:
        return incoming if incoming.read_at > current.read_at else current
    return incoming if incoming.count > current.count else current


def content_hash(
    title: str, abstract: str, authors: Sequence[str], categories: Sequence[str]
) -> str:
    """Hash of the text a reader and the search index see; changes when the paper does."""
    payload = orjson.dumps([title, abstract, list(authors), list(categories)])
    return hashlib.sha256(payload).hexdigest()


class DailyPaperUpserter:
    """Applies batches of records within the caller's session, caching author, user and org rows."""

    def __init__(self, session: Session, trending_window_hours: float) -> None:
        self.session = session
        self.window_hours = trending_window_hours
        self._authors: dict[str, Author] = {}
        self._users: dict[str, User] = {}
        self._orgs: dict[str, Org] = {}

    def apply(self, records: Sequence[DailyPaperRecord]) -> list[Outcome]:
        """Upsert ``records`` (duplicates allowed); return each one's outcome, in order."""
        papers = self._existing_papers({record.arxiv_id for record in records})
        self._load_authors({name for record in records for name in record.authors})
        outcomes: list[Outcome] = []
        to_embed: dict[str, Paper] = {}
        for record in records:
            paper = papers.get(record.arxiv_id)
            if paper is None:
                paper = self._create_paper(record)
                papers[record.arxiv_id] = paper
                outcomes.append("new")
                to_embed[paper.arxiv_id] = paper
            else:
                text_before = paper.content_hash
                changed = self._update_paper(paper, record)
                outcomes.append("updated" if changed else "unchanged")
                if paper.content_hash != text_before:
                    to_embed[paper.arxiv_id] = paper
        self.session.flush()
        # Embedding jobs in the same transaction, as for every source (DESIGN.md §1).
        jobs.enqueue_many(
            self.session,
            [
                {"kind": EMBED_JOB, "payload": {"paper_id": p.id}, "dedupe_key": f"embed:{key}"}
                for key, p in to_embed.items()
            ],
        )
        return outcomes

    def _existing_papers(self, arxiv_ids: set[str]) -> dict[str, Paper]:
        rows = self.session.scalars(
            select(Paper)
            .where(Paper.arxiv_id.in_(arxiv_ids))
            .options(
                selectinload(Paper.daily_entry).joinedload(DailyEntry.submitter),
                selectinload(Paper.daily_entry).joinedload(DailyEntry.organization),
            )
        )
        return {paper.arxiv_id: paper for paper in rows}

    def _load_authors(self, names: set[str]) -> None:
        missing = names - self._authors.keys()
        if not missing:
            return
        for author in self.session.scalars(select(Author).where(Author.name.in_(missing))):
            self._authors[author.name] = author
        for name in sorted(missing - self._authors.keys()):
            author = Author(name=name, name_key=author_key(name))
            self.session.add(author)
            self._authors[name] = author

    def _user(self, ref: SubmitterRef | None) -> User | None:
        if ref is None:
            return None
        name = stored_name(ref.username)
        user = self._users.get(name) or self.session.scalar(
            select(User).where(User.username == name)
        )
        if user is None:
            user = User(
                username=name,
                fullname=ref.fullname,
                avatar_url=ref.avatar_url,
                is_external=True,
            )
            self.session.add(user)
        self._users[name] = user
        return user

    def _org(self, ref: OrgRef | None) -> Org | None:
        if ref is None:
            return None
        name = stored_name(ref.name)
        org = self._orgs.get(name) or self.session.scalar(select(Org).where(Org.name == name))
        if org is None:
            org = Org(name=name, fullname=ref.fullname, avatar_url=ref.avatar_url)
            self.session.add(org)
        self._orgs[name] = org
        return org

    def _author_links(self, names: Sequence[str]) -> list[PaperAuthor]:
        return [
            PaperAuthor(position=position, author=self._authors[name])
            for position, name in enumerate(names)
        ]

    def _replace_authors(self, paper: Paper, names: Sequence[str]) -> None:
        # Reuse the (paper, position) rows in place: deleting and re-adding the same key in
        # one flush would collide on the primary key. Loads the links only here (rare).
        links = paper.author_links
        del links[len(names) :]
        for position, name in enumerate(names):
            if position < len(links):
                links[position].author = self._authors[name]
            else:
                links.append(PaperAuthor(position=position, author=self._authors[name]))
        paper.author_names = list(names)
        paper.authors_text = ", ".join(names)

    def _create_paper(self, record: DailyPaperRecord) -> Paper:
        paper = Paper(
            arxiv_id=record.arxiv_id,
            version=record.version,
            title=record.title,
            title_raw=record.title_raw,
            abstract=record.abstract,
            abstract_raw=record.abstract_raw,
            author_names=list(record.authors),
            authors_text=", ".join(record.authors),
            categories=list(record.categories),
            published_at=record.published_at,
            github_repo=record.github_repo,
            github_stars=record.github_stars,
            project_page=record.project_page,
            ai_summary=record.ai_summary,
            ai_keywords=list(record.ai_keywords) if record.ai_keywords is not None else None,
            content_hash=content_hash(
                record.title, record.abstract, record.authors, record.categories
            ),
            external_upvotes=record.upvotes,
            external_upvotes_read_at=record.upvotes_read_at,
            local_upvotes=0,
            author_links=self._author_links(record.authors),
        )
        paper.daily_entry = DailyEntry(
            feed_date=record.feed_date,
            submitted_at=record.submitted_at,
            submitter=self._user(record.submitter),
            organization=self._org(record.organization),
        )
        paper.trending_score = trending_score(paper.upvotes, record.submitted_at, self.window_hours)
        self.session.add(paper)
        return paper

    def _update_paper(self, paper: Paper, record: DailyPaperRecord) -> bool:
        changed = False

        def assign(attribute: str, value: object) -> None:
            nonlocal changed
            if value is None or value == "" or value == [] or getattr(paper, attribute) == value:
                return
            setattr(paper, attribute, value)
            changed = True

        if record.version is not None and record.version >= (paper.version or 0):
            assign("version", record.version)

        def assign_exactly(attribute: str, value: object) -> None:
            # For the raw text, None is a value (no LaTeX to keep), not "unknown".
            nonlocal changed
            if getattr(paper, attribute) != value:
                setattr(paper, attribute, value)
                changed = True

        assign("title", record.title)
        assign_exactly("title_raw", record.title_raw)
        if record.abstract:
            assign("abstract", record.abstract)
            assign_exactly("abstract_raw", record.abstract_raw)
        assign("categories", list(record.categories))
        assign("published_at", record.published_at)
        assign("github_repo", record.github_repo)
        assign("github_stars", record.github_stars)
        assign("project_page", record.project_page)
        assign("ai_summary", record.ai_summary)
        if record.ai_keywords is not None:
            assign("ai_keywords", list(record.ai_keywords))
        if record.authors and list(record.authors) != paper.author_names:
            self._replace_authors(paper, record.authors)
            changed = True
        assign(
            "content_hash",
            content_hash(paper.title, paper.abstract, paper.author_names, paper.categories),
        )

        current = UpvoteReading(paper.external_upvotes, paper.external_upvotes_read_at)
        kept = newest_upvotes(current, UpvoteReading(record.upvotes, record.upvotes_read_at))
        if kept != current:
            paper.external_upvotes = kept.count
            paper.external_upvotes_read_at = kept.read_at
            changed = True

        changed |= self._update_entry(paper, record)
        if paper.daily_entry is not None:
            score = trending_score(paper.upvotes, paper.daily_entry.submitted_at, self.window_hours)
            if paper.trending_score is None or abs(paper.trending_score - score) > 1e-9:
                paper.trending_score = score
                changed = True
        return changed

    def _update_entry(self, paper: Paper, record: DailyPaperRecord) -> bool:
        entry = paper.daily_entry
        if entry is None:
            paper.daily_entry = DailyEntry(
                feed_date=record.feed_date,
                submitted_at=record.submitted_at,
                submitter=self._user(record.submitter),
                organization=self._org(record.organization),
            )
            return True
        if record.feed_date > entry.feed_date:
            return False
        if record.feed_date == entry.feed_date:
            # Same day from another source: fill in who submitted it, never overwrite.
            changed = False
            if entry.submitter is None and record.submitter is not None:
                entry.submitter = self._user(record.submitter)
                changed = True
            if entry.organization is None and record.organization is not None:
                entry.organization = self._org(record.organization)
                changed = True
            return changed
        entry.feed_date = record.feed_date
        entry.submitted_at = record.submitted_at
        entry.submitter = self._user(record.submitter) or entry.submitter
        entry.organization = self._org(record.organization) or entry.organization
        return True
