"""Per-IP and per-account rate limits of the community actions (settings ``LIMIT_*``)."""

from __future__ import annotations

import datetime as dt

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from dailypapers import rate_limits
from dailypapers.config import Settings
from dailypapers.models import User
from dailypapers.rate_limits import RateLimitedError


def client_ip(request: Request) -> str:
    """The client's address (behind TRUSTED_PROXIES, the one they forwarded)."""
    return request.client.host if request.client else "unknown"


def check_limits(
    session: Session,
    settings: Settings,
    request: Request,
    user: User | None,
    kind: str,
    *,
    account_key: str | None = None,
) -> None:
    """Count one ``kind`` action (signin, signup, reset, submit, vote, comment, email, write)
    against the client address and the account (the signed-in user, or ``account_key`` — the
    address typed into a sign-in or reset form). Raises ``RateLimitedError``; callers commit
    anyway."""
    per_ip = getattr(settings, f"limit_{kind}_per_ip")
    limits = [(f"{kind}:ip:{client_ip(request)}", rate_limits.parse_rate(per_ip))]
    key = str(user.id) if user is not None else account_key
    per_account = getattr(settings, f"limit_{kind}_per_account", None)
    if key and per_account:
        limits.append((f"{kind}:account:{key[:150]}", rate_limits.parse_rate(per_account)))
    rate_limits.hit_many(session, limits, dt.datetime.now(dt.UTC))


def limit_or_429(
    request: Request, session: Session, settings: Settings, user: User | None, kind: str
) -> None:
    """:func:`check_limits` inside a handler's write transaction; over the limit, the refused
    hit is committed (hammering does not reset the window) and the answer is a 429 with
    ``Retry-After`` (an error page, or ``{"error"}`` under /api/)."""
    try:
        check_limits(session, settings, request, user, kind)
    except RateLimitedError as exc:
        session.commit()
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
