"""Who is asking, and may they: the session cookie, CSRF tokens, the current user, API tokens.

- The session is Starlette's signed cookie (itsdangerous, SECRET_KEY): it holds the user id,
  the user's ``session_epoch``, the CSRF token and a random session id whose hash is a
  ``user_sessions`` row. Signing out deletes the row and a password change deletes them all, so
  a copied cookie stops working at once rather than when it expires.
- Every form carries ``csrf_token``; :func:`require_csrf` compares it with the session's in
  constant time. Links sent by mail (confirm, unsubscribe) carry their own secret instead.
- The JSON API takes ``Authorization: Bearer <token>`` (pages and forms do not: they take the
  session only); only a SHA-256 of each token is stored.
  A JSON write made with the session cookie instead (the site's own scripts) must send the CSRF
  token in ``X-CSRF-Token`` (:func:`require_api_csrf`), which another site's page cannot.
- Every unsafe request that names its ``Origin`` must name this site (:func:`same_origin`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from markupsafe import Markup
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from dailypapers.accounts import hash_token
from dailypapers.config import Settings
from dailypapers.models import ApiToken, User, UserSession
from dailypapers.web.deps import SessionDep, SettingsDep

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
    """``{{ csrf_field(request) }}`` in every form: made once per request, since a list page
    has a few forms on every card."""
    field = getattr(request.state, "csrf_field", None)
    if not isinstance(field, Markup):
        field = Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, csrf_token(request)
        )
        request.state.csrf_field = field
    return field


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


async def require_api_csrf(request: Request) -> None:
    """Dependency of JSON writes: a Bearer token needs nothing more; the session cookie needs
    the session's CSRF token in ``X-CSRF-Token`` (a browser sends the cookie with another site's
    request, but only this site's scripts can read the token and set the header). Without a
    signed-in session the user dependency answers 401."""
    if _bearer_token(request) is not None or "uid" not in request.session:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise HTTPException(
            403,
            f"A write with the session cookie needs the {CSRF_HEADER} header; "
            "API clients use Authorization: Bearer <token>.",
        )


ApiCsrfChecked = Depends(require_api_csrf)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def same_origin(request: Request) -> None:
    """App-wide dependency: an unsafe request whose browser names another ``Origin`` (or the
    opaque ``null``) is refused before any handler runs. Requests without the header (API
    clients, old browsers) are left to the CSRF token and the Bearer token."""
    origin = request.headers.get("origin")
    if request.method not in UNSAFE_METHODS or origin is None:
        return
    settings: Settings = request.app.state.settings
    allowed = {_origin_of(settings.base_url), f"{request.url.scheme}://{request.url.netloc}"}
    if origin.rstrip("/").lower() not in allowed:
        raise HTTPException(403, "This request was sent from another site.")


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


def sign_in(request: Request, session: Session, settings: Settings, user: User) -> None:
    """Start a signed-in session: a new server-side session row and a new CSRF token (no
    fixation across the sign-in). Expired rows of anyone are dropped on the way."""
    now = dt.datetime.now(dt.UTC)
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    sid = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(days=settings.session_max_age_days)
    session.add(
        UserSession(id_hash=hash_token(sid), user_id=user.id, created_at=now, expires_at=expires)
    )
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch, "sid": sid})
    csrf_token(request)


def sign_out(request: Request, session: Session) -> None:
    """End this browser's session on the server too: its cookie, if copied, no longer works."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        session.execute(delete(UserSession).where(UserSession.id_hash == hash_token(sid)))
    request.session.clear()


def session_user(request: Request, session: Session) -> User | None:
    uid, epoch, sid = (request.session.get(key) for key in ("uid", "epoch", "sid"))
    if not isinstance(uid, int) or not isinstance(sid, str):
        return None
    user = session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.id_hash == hash_token(sid),
            User.id == uid,
            UserSession.expires_at > dt.datetime.now(dt.UTC),
        )
    )
    if user is None or user.session_epoch != epoch or user.password_hash is None:
        return None
    return user


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def bearer_user(request: Request, session: Session) -> User | None:
    token = _bearer_token(request)
    if token is None:
        return None
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == hash_token(token))
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


API_PREFIX = "/api/"


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The API token's owner on the JSON API, the signed-in user (cookie), else None.

    A token counts on ``/api/`` only: on the pages and forms it would let whoever holds one
    mint more tokens, read the account's export or revoke the owner's other tokens."""
    if request.url.path.startswith(API_PREFIX):
        user = bearer_user(request, session)
        if user is not None:
            return user
    return session_user(request, session)


async def required_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    return signed_in(user)


def signed_in(user: User | None) -> User:
    """The user, or a 401 (a sign-in redirect on pages). Called in a page's handler rather than
    as a dependency, so a malformed query is a 400 first, whoever asks."""
    if user is None:
        raise HTTPException(401, "Sign in first.")
    return user


async def active_user(user: Annotated[User, Depends(required_user)], settings: SettingsDep) -> User:
    """A user who may write (post, vote, submit): not banned, and with a confirmed address
    (else sign-ups could vote and comment without a working mailbox)."""
    if user.banned_at is not None:
        raise HTTPException(403, "This account is banned: it can read but not post or vote.")
    if settings.require_verified_email and user.email_verified_at is None and not user.is_external:
        raise HTTPException(
            403,
            "Confirm your email address first: open the link we mailed you, or ask for a new "
            "one on your account page.",
        )
    return user


async def moderator(user: Annotated[User, Depends(active_user)]) -> User:
    if user.role not in ("moderator", "admin"):
        raise HTTPException(403, "Only moderators can do this.")
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(required_user)]
ActiveUser = Annotated[User, Depends(active_user)]
Moderator = Annotated[User, Depends(moderator)]
