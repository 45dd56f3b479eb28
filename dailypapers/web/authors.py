"""Author pages (``/authors/{slug}``), authorship claims and their moderation, and the
author JSON (``/api/authors/{slug}``). A slug is the author key with hyphens
(authors/names.py); any other spelling of it redirects (301) to that one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from dailypapers.authors import claims, pages
from dailypapers.community import CommunityError, MissingTargetError
from dailypapers.display import shorten
from dailypapers.models import AuthorClaim, Paper, User
from dailypapers.schemas import AuthorDetailOut, AuthorPaperOut, user_out
from dailypapers.web.cards import viewer_context
from dailypapers.web.deps import ReadSessionDep, SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.inputs import row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import api, form, page
from dailypapers.web.security import ActiveUser, CsrfChecked, Moderator, session_user

router = APIRouter(tags=["authors"])
PageNumber = Annotated[int, Query(ge=1, le=10_000, description="1-based page number")]
Message = Annotated[str, Form(max_length=20_000)]
MOVED = 301


@dataclass(frozen=True, slots=True)
class AuthorCard:
    """What ``result_card`` shows of an author's paper (no search hit, no marked snippet)."""

    paper: Paper
    title_html: Markup
    abstract_html: Markup
    saved_at: None = None
    collection_names: tuple[str, ...] = ()
    hit: None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _author_or_404(session: Session, slug: str) -> pages.AuthorSummary:
    """The author a slug names (spelled any way that gives the key), or a 404."""
    key = pages.key_of_path(slug)
    summary = pages.author_summary(session, key) if key else None
    if summary is None:
        raise HTTPException(404, "No paper in this site's store has an author of that name.")
    return summary


def _moved(summary: pages.AuthorSummary, prefix: str, query: str) -> RedirectResponse:
    """The 301 from a slug spelled otherwise to the canonical one, query kept."""
    location = f"{prefix}/{quote(summary.slug)}" + (f"?{query}" if query else "")
    return RedirectResponse(location, status_code=MOVED)


def _author_page(
    request: Request,
    session: Session,
    templates: TemplatesDep,
    summary: pages.AuthorSummary,
    page_number: int,
    page_size: int,
    *,
    claim_error: str | None = None,
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    result = pages.author_papers(
        session,
        summary.key,
        page=page_number - 1,
        page_size=page_size,
        total=summary.paper_count,
    )
    user = session_user(request, session)
    cards = [
        AuthorCard(paper, escape(paper.title), escape(shorten(paper.abstract or "")))
        for paper in result.papers
    ]
    holder = claims.approved_claim(session, summary.key)
    context: dict[str, Any] = {
        **viewer_context(session, user, [paper.id for paper in result.papers]),
        "author": summary,
        "result": result,
        "cards": cards,
        "coauthors": pages.coauthors(session, summary.key),
        "claimed_by": holder.user if holder else None,
        "my_claims": claims.claims_of(session, user, key=summary.key) if user else [],
        "user": user,
        "claim_error": claim_error,
        "message": message,
        "feed_url": f"/feeds/authors/{summary.slug}.atom",
    }
    return templates.TemplateResponse(request, "author.html", context, status_code=status_code)


@router.get(
    "/authors/{slug}",
    response_class=HTMLResponse,
    responses={301: {"description": "The canonical spelling of the slug"}, **page(404)},
    summary="An author's page",
)
def author_page(
    request: Request,
    slug: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    page: PageNumber = 1,
) -> Response:
    """The papers of every spelling merged under this author's key (docs/authors.md)."""
    summary = _author_or_404(session, slug)
    if slug != summary.slug:
        return _moved(summary, "/authors", request.url.query)
    return _author_page(request, session, templates, summary, page, settings.feed_page_size)


@router.post(
    "/authors/{slug}/claim",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Ask to be linked to an author",
)
@writes
def claim_form(
    request: Request,
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    message: Message = "",
) -> Response:
    summary = _author_or_404(session, slug)
    limit_or_429(request, session, settings, user, "write")
    try:
        claims.request_claim(session, user, summary.key, message, _now())
    except CommunityError as exc:
        return _author_page(
            request,
            session,
            templates,
            summary,
            1,
            settings.feed_page_size,
            claim_error=str(exc),
            message=message,
            status_code=400,
        )
    return RedirectResponse(f"/authors/{quote(summary.slug)}#claim", status_code=303)


@router.post(
    "/moderation/claims/{claim_id}/decide",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Approve or refuse an authorship claim",
)
@writes
def decide_claim(
    request: Request,
    claim_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: Moderator,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Message = "",
) -> Response:
    limit_or_429(request, session, settings, user, "write")
    try:
        claims.decide(session, user, row_id_or_404(claim_id, "claim"), decision, reason, _now())
    except MissingTargetError as exc:
        raise HTTPException(404, str(exc)) from None
    except CommunityError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse("/moderation#claims", status_code=303)


@router.get(
    "/api/authors/{slug}",
    response_model=AuthorDetailOut,
    response_model_exclude_none=True,
    responses={301: {"description": "The canonical spelling of the slug"}, **api(404)},
    summary="An author: spellings, papers (newest first), claimed account",
)
def author_detail(
    request: Request,
    slug: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    p: Annotated[int, Query(ge=0, le=10_000, description="page, from 0")] = 0,
) -> AuthorDetailOut | Response:
    summary = _author_or_404(session, slug)
    if slug != summary.slug:
        return _moved(summary, "/api/authors", request.url.query)
    result = pages.author_papers(
        session,
        summary.key,
        page=p,
        page_size=settings.feed_page_size,
        total=summary.paper_count,
    )
    holder = claims.approved_claim(session, summary.key)
    return AuthorDetailOut(
        name=summary.name,
        slug=summary.slug,
        variants=[variant.name for variant in summary.variants],
        numPapers=summary.paper_count,
        upvotes=summary.upvotes,
        papers=[
            AuthorPaperOut(
                id=paper.arxiv_id,
                title=paper.title,
                publishedAt=paper.published_at,
                upvotes=paper.upvotes,
            )
            for paper in result.papers
        ],
        page=p,
        user=user_out(holder.user) if holder else None,
    )


def claimed_authors(session: Session, profile: User, *, own: bool) -> list[AuthorClaim]:
    """The claims a user page lists: approved ones for everyone, all of them to their owner."""
    return [c for c in claims.claims_of(session, profile) if own or c.status == "approved"]
