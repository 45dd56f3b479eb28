"""Pydantic shapes of the JSON API, compatible with Hugging Face's papers API (DESIGN.md §5),
and the functions that build them from rows. Here, not in the route modules, so the CLI prints
the API's answer without importing the web package.

``huggingface_hub`` parses these: times must be ``YYYY-MM-DDTHH:MM:SS.mmmZ``, ``authors`` a list
of objects with ``name``, ``submittedBy`` / ``organization`` objects or absent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from sqlalchemy.orm import Session

from dailypapers.authors.claims import claimed_users
from dailypapers.community import comment_counts
from dailypapers.hf_names import public_name
from dailypapers.models import DailyEntry, Org, Paper, User
from dailypapers.papers import papers_in_order


def format_hf_time(value: dt.datetime) -> str:
    """UTC with milliseconds and a ``Z``, the one format ``huggingface_hub`` parses."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# Shown when an account or organization has no avatar of its own (HF clients expect a URL).
DEFAULT_AVATAR = "/static/avatar.svg"

HfTime = Annotated[dt.datetime, PlainSerializer(format_hf_time, return_type=str)]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class UserOut(_Out):
    id: str = Field(serialization_alias="_id")
    user: str
    name: str
    fullname: str
    avatarUrl: str = DEFAULT_AVATAR
    type: str = "user"


class AuthorOut(_Out):
    name: str
    hidden: bool = False
    # The account whose authorship claim a moderator approved (HF's ``authors[].user``).
    user: UserOut | None = None


class OrgOut(_Out):
    id: str = Field(serialization_alias="_id")
    name: str
    fullname: str
    avatarUrl: str = DEFAULT_AVATAR


class PaperOut(_Out):
    """The paper object: ``GET /api/papers/{id}`` and the ``paper`` of each daily item."""

    id: str
    authors: list[AuthorOut]
    publishedAt: HfTime | None = None
    submittedOnDailyAt: HfTime | None = None
    title: str
    summary: str
    upvotes: int
    ai_summary: str | None = None
    ai_keywords: list[str] | None = None
    githubRepo: str | None = None
    githubStars: int | None = None
    projectPage: str | None = None
    categories: list[str] | None = None
    submittedOnDailyBy: UserOut | None = None
    organization: OrgOut | None = None


class DailyPaperOut(_Out):
    """One item of ``GET /api/daily_papers``; top-level ``publishedAt`` is the feed time."""

    paper: PaperOut
    publishedAt: HfTime
    title: str
    summary: str
    numComments: int = 0
    submittedBy: UserOut | None = None
    organization: OrgOut | None = None
    # Also at the top level (beyond HF's shape): huggingface_hub's PaperInfo reads these
    # fields from the item, not from ``paper``, so a client sees them only here.
    ai_summary: str | None = None
    ai_keywords: list[str] | None = None
    githubRepo: str | None = None
    githubStars: int | None = None
    projectPage: str | None = None


class ErrorOut(_Out):
    error: str


# The answer of the API's upvote routes (a docstring would show in /openapi.json).
class VoteOut(BaseModel):
    paper: str
    voted: bool
    upvotes: int


# The body of ``POST /api/papers/submit``.
class SubmitIn(BaseModel):
    paper_id: str = Field(max_length=500, description="arXiv id or URL")
    comment: str | None = Field(None, max_length=10_000)
    organization: str | None = Field(None, max_length=100)


def user_out(user: User | None) -> UserOut | None:
    if user is None:
        return None
    return UserOut(
        id=str(user.id),
        user=public_name(user.username),
        name=public_name(user.username),
        fullname=user.fullname or public_name(user.username),
        avatarUrl=user.avatar_url or DEFAULT_AVATAR,
    )


def org_out(org: Org | None) -> OrgOut | None:
    if org is None:
        return None
    return OrgOut(
        id=str(org.id),
        name=public_name(org.name),
        fullname=org.fullname or public_name(org.name),
        avatarUrl=org.avatar_url or DEFAULT_AVATAR,
    )


# The accounts of claimed authors, by printed name (authors/claims.claimed_users).
Claimed = Mapping[str, User]
NO_CLAIMS: Claimed = {}


def paper_out(paper: Paper, entry: DailyEntry | None, claimed: Claimed = NO_CLAIMS) -> PaperOut:
    """The paper object; ``entry`` is passed in because list queries load it from its side."""
    return PaperOut(
        id=paper.arxiv_id,
        authors=[
            AuthorOut(name=name, user=user_out(claimed.get(name))) for name in paper.author_names
        ],
        # Hugging Face always sends the arXiv time; until ingestion knows it, the feed time.
        publishedAt=paper.published_at or (entry.submitted_at if entry else None),
        submittedOnDailyAt=entry.submitted_at if entry else None,
        title=paper.title,
        summary=paper.abstract,
        upvotes=paper.upvotes,
        ai_summary=paper.ai_summary,
        ai_keywords=paper.ai_keywords,
        githubRepo=paper.github_repo,
        githubStars=paper.github_stars,
        projectPage=paper.project_page,
        categories=paper.categories or None,
        submittedOnDailyBy=user_out(entry.submitter) if entry else None,
        organization=org_out(entry.organization) if entry else None,
    )


def daily_paper_out(
    entry: DailyEntry, num_comments: int = 0, claimed: Claimed = NO_CLAIMS
) -> DailyPaperOut:
    paper = paper_out(entry.paper, entry, claimed)
    return DailyPaperOut(
        paper=paper,
        numComments=num_comments,
        publishedAt=entry.submitted_at,
        title=paper.title,
        summary=paper.summary,
        submittedBy=paper.submittedOnDailyBy,
        organization=paper.organization,
        ai_summary=paper.ai_summary,
        ai_keywords=paper.ai_keywords,
        githubRepo=paper.githubRepo,
        githubStars=paper.githubStars,
        projectPage=paper.projectPage,
    )


def paper_item_out(
    paper: Paper, num_comments: int = 0, claimed: Claimed = NO_CLAIMS
) -> DailyPaperOut:
    """A paper as a daily item. A paper never put on the list (an arXiv-only paper) has no
    feed time; its top-level ``publishedAt`` is then the arXiv time (else when it was stored),
    as a client needs some time there."""
    if paper.daily_entry is not None:
        return daily_paper_out(paper.daily_entry, num_comments, claimed)
    out = paper_out(paper, None, claimed)
    return DailyPaperOut(
        paper=out,
        publishedAt=paper.published_at or paper.created_at,
        title=out.title,
        summary=out.summary,
        numComments=num_comments,
        ai_summary=out.ai_summary,
        ai_keywords=out.ai_keywords,
        githubRepo=out.githubRepo,
        githubStars=out.githubStars,
        projectPage=out.projectPage,
    )


def items_in_order(session: Session, paper_ids: Sequence[int]) -> list[DailyPaperOut]:
    """The visible papers with these ids as API items, in this order (search results)."""
    return paper_items(session, papers_in_order(session, paper_ids))


def paper_items(session: Session, papers: Sequence[Paper]) -> list[DailyPaperOut]:
    """These papers as API items, with their comment counts and claimed authors' accounts
    (``authors[].user``) read in one query each."""
    counts = comment_counts(session, [paper.id for paper in papers])
    claimed = claimed_users(session, (name for paper in papers for name in paper.author_names))
    return [paper_item_out(paper, counts.get(paper.id, 0), claimed) for paper in papers]


class AuthorPaperOut(_Out):
    id: str
    title: str
    publishedAt: HfTime | None = None
    upvotes: int


class AuthorDetailOut(_Out):
    """``GET /api/authors/{slug}``: an author page as JSON (one page of papers, newest first)."""

    name: str
    slug: str
    variants: list[str]
    numPapers: int
    upvotes: int
    papers: list[AuthorPaperOut]
    page: int
    user: UserOut | None = None


# The library under /api/me (issue 17): names in the API's camelCase. ---------------------------


class PaperStateOut(BaseModel):
    saved: bool = False
    opened: bool = False
    read: bool = False
    dismissed: bool = False
    sent: bool = Field(False, description="Mailed to you in a digest")
    seen: bool = Field(False, description="Opened, read or sent")


class LibraryItemOut(BaseModel):
    item: DailyPaperOut
    savedAt: HfTime
    collections: list[int]
    note: str | None = Field(None, description="Your private note, Markdown as written")
    state: PaperStateOut


class LibraryOut(BaseModel):
    items: list[LibraryItemOut]
    total: int
    page: int
    limit: int


class SaveOut(BaseModel):
    paper: str
    saved: bool


class CollectionIn(BaseModel):
    name: str = Field(max_length=300)
    description: str = Field("", max_length=2_000)
    isPublic: bool = False


class CollectionPatch(BaseModel):
    name: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=2_000)
    isPublic: bool | None = None


class CollectionOut(BaseModel):
    id: int
    name: str
    description: str
    isPublic: bool
    numPapers: int
    createdAt: HfTime
    updatedAt: HfTime
    url: str


class CollectionPaperOut(BaseModel):
    collection: int
    paper: str
    inCollection: bool


class NoteIn(BaseModel):
    body: str = Field(max_length=30_000, description="Markdown; empty deletes the note")


class NoteOut(BaseModel):
    paper: str
    body: str
    html: str = Field(description="The Markdown rendered and sanitized")
    updatedAt: HfTime


class MarkOut(BaseModel):
    paper: str
    mark: str
    on: bool


class ImportIn(BaseModel):
    text: str = Field(description="The file's content: BibTeX, CSL JSON, RIS or arXiv ids")
    filename: str | None = Field(None, max_length=200, description="Its name (tells the format)")
    collection: str | None = Field(None, max_length=300, description="Also put the papers here")


class ImportOutcomeOut(BaseModel):
    index: int
    line: int | None = None
    outcome: str = Field(description="matched | fetched | not_found | unparseable | pending")
    arxivId: str | None = None
    title: str | None = None
    reason: str | None = None


class ImportOut(BaseModel):
    id: int
    state: str = Field(description="matching | fetching | done")
    format: str
    filename: str
    total: int
    processed: int
    counts: dict[str, int]
    outcomes: list[ImportOutcomeOut]
    createdAt: HfTime
    finishedAt: HfTime | None = None


class ForYouItemOut(BaseModel):
    item: DailyPaperOut
    score: float = Field(description="The ranker's score (higher first); comparable within a list")
    reasons: list[str] = Field(description="Why this paper is here, worded for people")


class ForYouOut(BaseModel):
    items: list[ForYouItemOut]
    total: int
    period: str = Field(description="The window ranked: YYYY-MM-DD, YYYY-Www or YYYY-MM")
    fallback: bool = Field(description="True: nothing to learn from yet, ranked by trending")
    message: str = ""


class WebhookIn(BaseModel):
    url: str = Field(max_length=4_000, description="http(s) URL with a public address")


class WebhookOut(_Out):
    id: int
    url: str
    active: bool
    consecutiveFailures: int
    disabledAt: HfTime | None = None
    disabledReason: str | None = None
    createdAt: HfTime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…): returned only here")


class WebhookDeliveryOut(_Out):
    id: int
    delivery: str = Field(description="X-Dailypapers-Delivery, the same on every retry")
    event: str
    statusCode: int | None = None
    error: str | None = None
    attempt: int
    papers: int
    bytes: int
    durationMs: int
    createdAt: HfTime
