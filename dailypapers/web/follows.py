"""Follows from pages and forms: follow, unfollow, choose channels, and the Following page
(``/account/follows``) with the private alert feed addresses. Every form works without
JavaScript: it posts here and is sent back (303) to ``next`` or the page it came from. The JSON
API is in ``web/follows_api.py``; the model and rules are ``dailypapers/follows``
(docs/follows.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dailypapers.alerts import CHANNELS
from dailypapers.alerts import feeds as alert_feeds
from dailypapers.follows import FollowError, follow, list_follows, set_channels, unfollow
from dailypapers.follows.service import MAX_LABEL_CHARS, MAX_TARGET_CHARS
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.inputs import row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import REDIRECT, form, page
from dailypapers.web.redirects import back, local_path
from dailypapers.web.security import ActiveUser, CsrfChecked, OptionalUser, signed_in

router = APIRouter(tags=["follows"])
FOLLOWING_PAGE = "/account/follows"
# The form fields are bounded a little above the service's own caps, so a too-long value gets
# the service's worded 400 rather than a bare validation error, and nothing huge is parsed.
FormTarget = Annotated[str, Form(max_length=MAX_TARGET_CHARS * 4)]
FormLabel = Annotated[str, Form(max_length=MAX_LABEL_CHARS * 4)]
FormNext = Annotated[str, Form(max_length=2_000)]
FormFlag = Annotated[str, Form(max_length=5)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _next(request: Request, next_path: str) -> str:
    """``next`` when it is a path on this site, else the page the form was on."""
    return local_path(next_path, back(request, FOLLOWING_PAGE))


@router.post(
    "/follows",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Follow an author, an organization, an arXiv category or a search (form)",
)
@writes
def follow_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    kind: Annotated[str, Form(max_length=20)] = "",
    target: FormTarget = "",
    label: FormLabel = "",
    next: FormNext = "",
) -> Response:
    limit_or_429(request, session, settings, user, "library")
    try:
        follow(session, user.id, kind, target, _now(), label=label or None)
    except FollowError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(_next(request, next), status_code=303)


@router.post(
    "/follows/{follow_id}/delete",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Unfollow (form)",
)
@writes
def unfollow_form(
    request: Request,
    follow_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    next: FormNext = "",
) -> Response:
    row_id_or_404(follow_id, "follow")
    limit_or_429(request, session, settings, user, "library")
    if not unfollow(session, user.id, follow_id):
        raise HTTPException(404, f"You follow nothing with id {follow_id}.")
    return RedirectResponse(_next(request, next), status_code=303)


@router.post(
    "/follows/{follow_id}/channels",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Choose how a follow alerts you: email, feed, webhook (form checkboxes)",
)
@writes
def channels_form(
    request: Request,
    follow_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    email: FormFlag = "",
    feed: FormFlag = "",
    webhook: FormFlag = "",
    next: FormNext = "",
) -> Response:
    row_id_or_404(follow_id, "follow")
    limit_or_429(request, session, settings, user, "library")
    chosen = {"email": email, "feed": feed, "webhook": webhook}
    if set_channels(session, user.id, follow_id, [c for c in CHANNELS if chosen[c]]) is None:
        raise HTTPException(404, f"You follow nothing with id {follow_id}.")
    return RedirectResponse(_next(request, next), status_code=303)


@router.post(
    "/account/follows/feed-token",
    dependencies=[CsrfChecked],
    **form(401, 403, 429),
    summary="A new private feed address (the old one stops working)",
)
@writes
def regenerate_feed_token(
    request: Request, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> Response:
    limit_or_429(request, session, settings, user, "library")
    alert_feeds.feed_token(session, user.id, _now(), regenerate=True)
    return RedirectResponse(f"{FOLLOWING_PAGE}?notice=token", status_code=303)


@router.get(
    FOLLOWING_PAGE,
    response_class=HTMLResponse,
    responses={**REDIRECT, **page()},
    summary="What you follow, how each alerts you, and your private alert feed addresses",
)
@writes
def following_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    viewer: OptionalUser,
    notice: str = "",
) -> HTMLResponse:
    """A write handler: the feed token is made the first time the page is shown."""
    user = signed_in(viewer)
    token = alert_feeds.feed_token(session, user.id, _now())
    context = {
        "user": user,
        "follows": list_follows(session, user.id),
        "channels": CHANNELS,
        "feed_token": token,
        "notice": "Your feed has a new address; the old one no longer works."
        if notice == "token"
        else "",
    }
    return templates.TemplateResponse(request, "following.html", context)
