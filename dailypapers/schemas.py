"""Pydantic shapes of the JSON API, compatible with Hugging Face's papers API (DESIGN.md §5).

``huggingface_hub`` parses these: times must be ``YYYY-MM-DDTHH:MM:SS.mmmZ``, ``authors`` a list
of objects with ``name``, ``submittedBy`` / ``organization`` objects or absent.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from dailypapers.hf_names import public_name
from dailypapers.models import DailyEntry, Org, Paper, User


def format_hf_time(value: dt.datetime) -> str:
    """UTC with milliseconds and a ``Z``, the one format ``huggingface_hub`` parses."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# Shown when an account or organization has no avatar of its own (HF clients expect a URL).
DEFAULT_AVATAR = "/static/avatar.svg"

HfTime = Annotated[dt.datetime, PlainSerializer(format_hf_time, return_type=str)]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class AuthorOut(_Out):
    name: str
    hidden: bool = False


class UserOut(_Out):
    id: str = Field(serialization_alias="_id")
    user: str
    name: str
    fullname: str
    avatarUrl: str = DEFAULT_AVATAR
    type: str = "user"


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


def paper_out(paper: Paper, entry: DailyEntry | None) -> PaperOut:
    """The paper object; ``entry`` is passed in because list queries load it from its side."""
    return PaperOut(
        id=paper.arxiv_id,
        authors=[AuthorOut(name=name) for name in paper.author_names],
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


def daily_paper_out(entry: DailyEntry, num_comments: int = 0) -> DailyPaperOut:
    paper = paper_out(entry.paper, entry)
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
