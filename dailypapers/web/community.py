"""Community actions from pages and the API: upvote, comment, submit, moderate.

Forms post here and are sent back to the page they came from (303); a refused action
re-renders that page with the message and the text kept. The API routes take a Bearer token.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers import community, submissions
from dailypapers.authors import claims as author_claims
from dailypapers.community import CommunityError, MissingTargetError
from dailypapers.config import Settings
from dailypapers.db import write_transaction
from dailypapers.models import Comment, DailyEntry, ModerationAction, Paper, User
from dailypapers.schemas import DailyPaperOut, SubmitIn, VoteOut, daily_paper_out
from dailypapers.web.deps import (
    SessionDep,
    SettingsDep,
    TemplatesDep,
    arxiv_id_or_400,
    paper_or_404,
    writes,
)
from dailypapers.web.inputs import RowIdField, row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import api, form, page
from dailypapers.web.redirects import back
from dailypapers.web.security import (
    ActiveUser,
    ApiCsrfChecked,
    CsrfChecked,
    Moderator,
    touch_token,
)

router = APIRouter(tags=["community"])
Text = Annotated[str, Form(max_length=20_000)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _paper(session: SessionDep, paper_id: str) -> Paper:
    return paper_or_404(session, paper_id)


# Upvotes -------------------------------------------------------------------------------------


def _vote_target(paper_id: str, session: Session) -> community.VoteTarget:
    arxiv_id = arxiv_id_or_400(paper_id)
    target = community.vote_target(session, arxiv_id)
    if target is None:
        raise HTTPException(404, f"Paper {arxiv_id} is not in this site's store.")
    return target


def _vote(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    paper_id: str,
    on: bool,
) -> community.VoteResult:
    """The hot path (measured in bench/bench_votes.py): reads first, then one short write
    transaction with the rate-limit hits, the vote row and the counters."""
    target = _vote_target(paper_id, session)
    with write_transaction(session):
        touch_token(request, session)
        limit_or_429(request, session, settings, user, "vote")
        return community.set_vote(session, settings, user, target, on=on, now=_now())


@router.post(
    "/papers/{paper_id:path}/upvote",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Upvote (form)",
)
def upvote_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    action: Annotated[str, Form(max_length=10)] = "up",
) -> Response:
    _vote(request, session, settings, user, paper_id, action != "down")
    arxiv_id = arxiv_id_or_400(paper_id)
    return RedirectResponse(back(request, f"/papers/{arxiv_id}"), status_code=303)


@router.post(
    "/api/papers/{paper_id:path}/upvote",
    dependencies=[ApiCsrfChecked],
    response_model=VoteOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Upvote a paper",
)
def api_upvote(
    request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> VoteOut:
    """Idempotent: upvoting twice counts once. Needs ``Authorization: Bearer <token>``."""
    result = _vote(request, session, settings, user, paper_id, True)
    return VoteOut(paper=arxiv_id_or_400(paper_id), voted=result.voted, upvotes=result.upvotes)


@router.delete(
    "/api/papers/{paper_id:path}/upvote",
    dependencies=[ApiCsrfChecked],
    response_model=VoteOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Take an upvote back",
)
def api_unvote(
    request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> VoteOut:
    result = _vote(request, session, settings, user, paper_id, False)
    return VoteOut(paper=arxiv_id_or_400(paper_id), voted=result.voted, upvotes=result.upvotes)


# Comments ------------------------------------------------------------------------------------


@router.post(
    "/papers/{paper_id:path}/comments",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Comment",
)
@writes
def comment_form(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    body: Text = "",
    parent_id: RowIdField = None,
) -> Response:
    paper = _paper(session, paper_id)
    limit_or_429(request, session, settings, user, "comment")
    try:
        comment = community.add_comment(session, user, paper, body, parent_id=parent_id, now=_now())
    except CommunityError as exc:
        from dailypapers.web.papers import render_paper

        return render_paper(
            request, session, templates, paper, comment_error=str(exc), draft=body, status_code=400
        )
    return RedirectResponse(f"/papers/{paper.arxiv_id}#comment-{comment.id}", status_code=303)


def _comment_paper(session: SessionDep, comment_id: int) -> Paper:
    comment = session.get(Comment, row_id_or_404(comment_id, "comment"))
    if comment is None:
        raise HTTPException(404, "This comment does not exist.")
    paper = session.get(Paper, comment.paper_id)
    assert paper is not None
    return paper


@router.post(
    "/comments/{comment_id}/edit",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Edit own comment",
)
@writes
def edit_comment(
    request: Request,
    comment_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    body: Text = "",
) -> Response:
    paper = _comment_paper(session, comment_id)
    limit_or_429(request, session, settings, user, "write")
    try:
        community.edit_comment(session, user, comment_id, body, _now())
    except CommunityError as exc:
        raise HTTPException(403 if "own" in str(exc) else 400, str(exc)) from None
    return RedirectResponse(f"/papers/{paper.arxiv_id}#comment-{comment_id}", status_code=303)


@router.post(
    "/comments/{comment_id}/delete",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Delete own comment",
)
@writes
def delete_comment(
    request: Request, comment_id: int, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> Response:
    paper = _comment_paper(session, comment_id)
    limit_or_429(request, session, settings, user, "write")
    try:
        community.delete_comment(session, user, comment_id, _now())
    except CommunityError as exc:
        raise HTTPException(403 if "own" in str(exc) else 404, str(exc)) from None
    return RedirectResponse(f"/papers/{paper.arxiv_id}#comments", status_code=303)


# Submissions ---------------------------------------------------------------------------------


def _submit_page(
    request: Request,
    templates: TemplatesDep,
    values: dict[str, str],
    error: str | None = None,
    existing: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {"values": values, "error": error, "existing": existing}
    return templates.TemplateResponse(request, "submit.html", context, status_code=status_code)


@router.get(
    "/papers/submit",
    response_class=HTMLResponse,
    responses=page(403, redirect=True),
    summary="Submit a paper (form)",
)
def submit_page(request: Request, templates: TemplatesDep, user: ActiveUser) -> HTMLResponse:
    return _submit_page(request, templates, {})


def _submit(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    text: str,
    *,
    comment: str,
    organization: str,
) -> DailyEntry:
    """Three steps, so no write lock is held while arXiv answers: count the attempt (committed
    whatever follows, so refused submissions count too), look the paper up, then one short
    write transaction."""
    with write_transaction(session):
        touch_token(request, session)
        limit_or_429(request, session, settings, user, "submit")
    lookup = submissions.look_up(session, settings, text)
    with write_transaction(session):
        return submissions.submit(
            session, settings, user, lookup, comment=comment, organization=organization, now=_now()
        )


@router.post(
    "/papers/submit",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429, 502),
    summary="Submit a paper",
)
def submit_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    paper: Annotated[str, Form(max_length=500)] = "",
    comment: Text = "",
    organization: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {"paper": paper, "comment": comment, "organization": organization}
    try:
        entry = _submit(
            request, session, settings, user, paper, comment=comment, organization=organization
        )
    except submissions.SubmissionError as exc:
        status = 502 if isinstance(exc, submissions.ArxivLookupError) else 400
        return _submit_page(request, templates, values, str(exc), exc.existing, status)
    return RedirectResponse(f"/papers/{entry.paper.arxiv_id}", status_code=303)


@router.post(
    "/api/papers/submit",
    dependencies=[ApiCsrfChecked],
    # The body is DailyPaperOut, dumped by the handler (with HF's aliases).
    responses={200: {"model": DailyPaperOut}, **api(400, 401, 403, 409, 429, 502)},
    summary="Submit a paper (HF shape)",
)
def api_submit(
    request: Request, body: SubmitIn, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> dict[str, Any]:
    try:
        entry = _submit(
            request,
            session,
            settings,
            user,
            body.paper_id,
            comment=body.comment or "",
            organization=body.organization or "",
        )
    except submissions.ArxivLookupError as exc:
        raise HTTPException(502, str(exc)) from None
    except submissions.SubmissionError as exc:
        raise HTTPException(409 if exc.existing else 400, str(exc)) from None
    return daily_paper_out(entry).model_dump(mode="json", exclude_none=True)


# Moderation ----------------------------------------------------------------------------------


@router.post(
    "/moderation/{action}/{target_id}",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Moderate",
)
@writes
def moderate(
    request: Request,
    action: str,
    target_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: Moderator,
    reason: Text = "",
) -> Response:
    limit_or_429(request, session, settings, user, "write")
    try:
        target = row_id_or_404(target_id, "moderation target")
        community.moderate(session, user, action, target, reason, _now())
    except MissingTargetError as exc:
        raise HTTPException(404, str(exc)) from None
    except CommunityError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(back(request, "/moderation"), status_code=303)


@router.get(
    "/moderation",
    response_class=HTMLResponse,
    responses=page(403, redirect=True),
    summary="Moderation log",
)
def moderation_log(
    request: Request, session: SessionDep, templates: TemplatesDep, user: Moderator
) -> HTMLResponse:
    actions = session.scalars(
        select(ModerationAction).order_by(ModerationAction.created_at.desc()).limit(200)
    ).all()
    context = {"actions": actions, "claims": author_claims.pending_claims(session)}
    return templates.TemplateResponse(request, "moderation.html", context)
