"""Organizations and public profiles: create, invite, accept, leave, name owners."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dailypapers import orgs
from dailypapers.accounts import AccountFormError
from dailypapers.follows import followed_targets
from dailypapers.models import DailyEntry, Org, OrgMember, Paper, User
from dailypapers.web.authors import claimed_authors
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import form, page
from dailypapers.web.security import ActiveUser, CsrfChecked, session_user

router = APIRouter(tags=["organizations"])
Name = Annotated[str, Form(max_length=200)]
RECENT = 50


def _org(session: Session, name: str) -> Org:
    # Local names are lower-case; imported ones (``name@hf``) keep Hugging Face's case.
    org = session.scalar(select(Org).where(Org.name == name)) or session.scalar(
        select(Org).where(Org.name == name.lower())
    )
    if org is None:
        raise HTTPException(404, f"No organization is named {name!r}.")
    return org


def _recent_entries(session: Session, *where: object) -> list[DailyEntry]:
    return list(
        session.scalars(
            select(DailyEntry)
            .join(DailyEntry.paper)
            .options(joinedload(DailyEntry.paper), joinedload(DailyEntry.submitter))
            .where(*where, Paper.hidden_at.is_(None))  # type: ignore[arg-type]
            .order_by(DailyEntry.submitted_at.desc())
            .limit(RECENT)
        )
    )


def _org_page(
    request: Request,
    session: Session,
    templates: TemplatesDep,
    org: Org,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    user = session_user(request, session)
    members = session.execute(
        select(User, OrgMember.role)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id)
        .order_by(OrgMember.role, User.username)
    ).all()
    context = {
        "org": org,
        "members": members,
        "role": orgs.org_role(session, org, user),
        "entries": _recent_entries(session, DailyEntry.organization_id == org.id),
        "errors": errors or {},
        "followed_org": followed_targets(session, user.id if user else None).get(("org", org.name)),
    }
    return templates.TemplateResponse(request, "org.html", context, status_code=status_code)


@router.get(
    "/orgs/new",
    response_class=HTMLResponse,
    responses=page(403, redirect=True),
    summary="New organization form",
)
def new_org_page(request: Request, templates: TemplatesDep, user: ActiveUser) -> HTMLResponse:
    return templates.TemplateResponse(request, "org_new.html", {"values": {}, "errors": {}})


@router.post(
    "/orgs",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Create an organization",
)
@writes
def create_org(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    name: Name = "",
    fullname: Name = "",
) -> Response:
    limit_or_429(request, session, settings, user, "write")
    try:
        org = orgs.create_org(session, user, name, fullname, dt.datetime.now(dt.UTC))
    except AccountFormError as exc:
        context = {"values": {"name": name, "fullname": fullname}, "errors": exc.errors}
        return templates.TemplateResponse(request, "org_new.html", context, status_code=400)
    return RedirectResponse(f"/orgs/{org.name}", status_code=303)


@router.get(
    "/orgs/{name}",
    response_class=HTMLResponse,
    responses=page(404),
    summary="An organization's page",
)
def org_page(
    request: Request, name: str, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    return _org_page(request, session, templates, _org(session, name))


@router.post(
    "/orgs/{name}/{action}",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Invite, accept, leave",
)
@writes
def org_action(
    request: Request,
    name: str,
    action: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    username: Name = "",
) -> Response:
    org = _org(session, name)
    if action not in ("invite", "owner", "accept", "leave"):
        raise HTTPException(404, f"Unknown action {action!r}.")
    limit_or_429(request, session, settings, user, "write")
    try:
        if action == "invite":
            orgs.invite_to_org(session, user, org, username)
        elif action == "owner":
            orgs.make_org_owner(session, user, org, username)
        elif action == "accept":
            orgs.accept_org_invite(session, user, org)
        else:
            orgs.leave_org(session, user, org)
    except AccountFormError as exc:
        return _org_page(request, session, templates, org, errors=exc.errors, status_code=400)
    return RedirectResponse(f"/orgs/{org.name}", status_code=303)


@router.get(
    "/users/{username}",
    response_class=HTMLResponse,
    responses=page(404),
    summary="A user's public profile",
)
def user_page(
    request: Request, username: str, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    profile = session.scalar(select(User).where(User.username == username)) or session.scalar(
        select(User).where(User.username == username.lower())
    )
    if profile is None:
        raise HTTPException(404, f"No account is named {username!r}.")
    viewer = session_user(request, session)
    own = viewer is not None and viewer.id == profile.id
    context = {
        "profile": profile,
        "author_claims": claimed_authors(session, profile, own=own),
        "entries": _recent_entries(session, DailyEntry.submitter_id == profile.id),
        "is_moderator": viewer is not None and viewer.role in ("moderator", "admin"),
    }
    return templates.TemplateResponse(request, "user.html", context)
