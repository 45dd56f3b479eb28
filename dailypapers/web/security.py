"""Who is asking, and may they: the session cookie, CSRF tokens, the current user, API tokens.

- The session is Starlette's signed cookie (itsdangerous, SECRET_KEY): it holds the user id,
  the user's ``session_epoch`` (bumped by a password change, so older cookies stop working) and
  the CSRF token. Nothing else about the user lives in the browser.
- Every form carries ``csrf_token``; :func:`require_csrf` compares it with the session's in
  constant time. Links sent by mail (confirm, unsubscribe) carry their own secret instead.
- The JSON API takes ``Authorization: Bearer <token>``; only a SHA-256 of each token is stored.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from markupsafe import Markup
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from dailypapers.accounts import hash_token
from dailypapers.models import ApiToken, User
from dailypapers.web.deps import SessionDep

SESSION_COOKIE = "dp_session"
TOKEN_USE_PRECISION = dt.timedelta(days=1)  # how fresh an API token's "last used" is kept
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a form page sets the cookie)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_field(request: Request) -> Markup:
    """``{{ csrf_field(request) }}`` in every form."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(request)
    )


async def require_csrf(request: Request) -> None:
    """Dependency of every form POST: the form's token must be this session's."""
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise HTTPException(
            403,
            "This form has expired or was sent from another site. Reload the page and try again.",
        )


CsrfChecked = Depends(require_csrf)


def sign_in(request: Request, user: User) -> None:
    """Start a signed-in session; a new CSRF token too (no fixation across the sign-in)."""
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch})
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def session_user(request: Request, session: Session) -> User | None:
    uid, epoch = request.session.get("uid"), request.session.get("epoch")
    if not isinstance(uid, int):
        return None
    user = session.get(User, uid)
    if user is None or user.session_epoch != epoch or user.password_hash is None:
        return None
    return user


def bearer_user(request: Request, session: Session) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == hash_token(token.strip()))
    )
    if row is None:
        raise HTTPException(401, "This API token is not valid (it may have been revoked).")
    # Written by the handler's own write transaction (see touch_token): here, in a dependency,
    # a write would hold SQLite's lock while the handler waits for a worker thread.
    request.state.api_token = row
    return row.user


def touch_token(request: Request, session: Session) -> None:
    """Record when the request's API token was last used (to the day), inside a handler's
    write transaction."""
    row: ApiToken | None = getattr(request.state, "api_token", None)
    now = dt.datetime.now(dt.UTC)
    if row is not None and (
        row.last_used_at is None or now - row.last_used_at > TOKEN_USE_PRECISION
    ):
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The signed-in user (cookie) or the API token's owner, else None."""
    return bearer_user(request, session) or session_user(request, session)


async def required_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise HTTPException(401, "Sign in first.")
    return user


async def active_user(user: Annotated[User, Depends(required_user)]) -> User:
    """A user who may write (post, vote, submit): not banned."""
    if user.banned_at is not None:
        raise HTTPException(403, "This account is banned: it can read but not post or vote.")
    return user


async def moderator(user: Annotated[User, Depends(active_user)]) -> User:
    if user.role not in ("moderator", "admin"):
        raise HTTPException(403, "Only moderators can do this.")
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(required_user)]
ActiveUser = Annotated[User, Depends(active_user)]
Moderator = Annotated[User, Depends(moderator)]
