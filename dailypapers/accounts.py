"""Accounts: sign-up, sign-in, email verification, password reset and change, email change,
deletion, data export, API tokens, roles (services: they take a session and never commit).

Mail (verification, reset, email change) is a job queued in the caller's transaction and sent by
the worker (``account_mail.py``). Links carry itsdangerous tokens signed per purpose;
a reset token is bound to the current password hash, so it works once.
Messages never say whether an address has an account (no enumeration).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from dailypapers import jobs, rate_limits
from dailypapers.config import Settings
from dailypapers.jobs import ACCOUNT_MAIL_JOB
from dailypapers.library.exports import library_export_data
from dailypapers.mail.addresses import normalize_email
from dailypapers.models import (
    ApiToken,
    Comment,
    DailyEntry,
    Org,
    OrgMember,
    Paper,
    User,
    UserSession,
    Vote,
    Webhook,
)
from dailypapers.signing import Signer, TokenError

ROLES = ("user", "moderator", "admin")
VERIFY_PURPOSE, RESET_PURPOSE, EMAIL_PURPOSE = "verify-email", "reset-password", "change-email"
LINK_MAX_AGE = {VERIFY_PURPOSE: 7 * 86400, RESET_PURPOSE: 3600, EMAIL_PURPOSE: 86400}
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
_hasher = PasswordHasher()
# Verified against when no account matches, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountFormError(ValueError):
    """Bad form input: ``errors`` maps fields to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def check_username(raw: str) -> str:
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise ValueError("Use 3–40 letters, digits, - or _, starting with a letter or digit.")
    return name


def check_password(settings: Settings, password: str) -> str:
    if len(password) < settings.password_min_length:
        raise ValueError(f"Use at least {settings.password_min_length} characters.")
    if len(password) > 1024:
        raise ValueError("Use at most 1024 characters.")
    return password


def _mail(session: Session, template: str, user: User, to: str, url: str, now: dt.datetime) -> None:
    jobs.enqueue(
        session,
        ACCOUNT_MAIL_JOB,
        {"template": template, "user_id": user.id, "to": to, "url": url},
        now=now,
    )


def sign_up(
    session: Session,
    settings: Settings,
    signer: Signer,
    *,
    username: str,
    email: str,
    password: str,
    fullname: str = "",
    now: dt.datetime,
) -> User:
    """Create an account and mail a verification link. A taken username is said plainly (it is
    public anyway); a taken email is not: the form succeeds and the owner gets a mail saying
    someone tried to sign up with their address."""
    name, address, key, errors = check_sign_up(
        session, settings, username=username, email=email, password=password, fullname=fullname
    )
    if errors:
        raise AccountFormError(errors)
    # Hashed before the address is looked at: a taken address must cost as long as a new one.
    password_hash = _hasher.hash(password)
    existing = session.scalar(select(User).where(func.lower(User.email) == key))
    if existing is not None:
        if _may_mail(session, settings, key, now):
            _mail(session, "account_exists", existing, existing.email or address, "", now)
        return existing
    user = User(
        username=name,
        fullname=" ".join(fullname.split()),
        email=address,
        password_hash=password_hash,
        role="user",
        created_at=now,
        session_epoch=0,
    )
    session.add(user)
    session.flush()
    send_verification(session, settings, signer, user, now)
    return user


def send_verification(
    session: Session, settings: Settings, signer: Signer, user: User, now: dt.datetime
) -> None:
    """Queue the mail whose link confirms the account's address (at sign-up, and again when
    its owner asks from the account page)."""
    if user.email is None or user.email_verified_at is not None:
        return
    address, key = normalize_email(user.email)
    token = signer.dumps(VERIFY_PURPOSE, [user.id, key])
    _mail(
        session, "verify_email", user, address, f"{settings.base_url}/account/verify/{token}", now
    )


def _may_mail(session: Session, settings: Settings, key: str, now: dt.datetime) -> bool:
    """Whether ``key`` may get one more unrequested account mail today (LIMIT_MAIL_PER_ADDRESS,
    whoever asks): over it the mail is dropped silently, as the form must not tell."""
    rate = rate_limits.parse_rate(settings.limit_mail_per_address)
    try:
        rate_limits.hit(session, f"mail:address:{key[:150]}", rate, now)
    except rate_limits.RateLimitedError:
        return False
    return True


def find_login(session: Session, login: str) -> User | None:
    """The account a sign-in form names, by username or email address."""
    text = login.strip().lower()
    return session.scalar(
        select(User).where((User.username == text) | (func.lower(User.email) == text))
    )


def authenticate(session: Session, login: str, password: str) -> User | None:
    """The account for this username or email and password, else None (same work either way)."""
    return check_login(find_login(session, login), password)


def check_login(user: User | None, password: str) -> User | None:
    """``user`` if ``password`` is theirs, else None; a missing account costs one hash too."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.password_hash is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _load(signer: Signer, purpose: str, token: str) -> list[Any]:
    value = signer.loads(purpose, token, max_age_seconds=LINK_MAX_AGE[purpose])
    if not isinstance(value, list) or len(value) < 2:
        raise TokenError("This link is not valid (it may have been cut or altered).")
    return value


def verify_email(session: Session, signer: Signer, token: str, now: dt.datetime) -> User:
    user_id, key = _load(signer, VERIFY_PURPOSE, token)[:2]
    user = session.get(User, int(user_id))
    if user is None or (user.email or "").lower() != key:
        raise TokenError("This link is no longer valid.")
    if user.email_verified_at is None:
        user.email_verified_at = now
    return user


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def request_password_reset(
    session: Session, settings: Settings, signer: Signer, email: str, now: dt.datetime
) -> None:
    """Mail a reset link if an account has this address; say nothing either way."""
    try:
        _, key = normalize_email(email)
    except ValueError:
        return
    user = session.scalar(select(User).where(func.lower(User.email) == key))
    if user is None or user.password_hash is None:
        return
    token = signer.dumps(RESET_PURPOSE, [user.id, _password_fingerprint(user)])
    _mail(
        session,
        "reset_password",
        user,
        user.email or key,
        f"{settings.base_url}/account/reset/{token}",
        now,
    )


def reset_password(
    session: Session, settings: Settings, signer: Signer, token: str, password: str
) -> User:
    user_id, fingerprint = _load(signer, RESET_PURPOSE, token)[:2]
    user = session.get(User, int(user_id))
    if user is None or _password_fingerprint(user) != fingerprint:
        raise TokenError("This link has been used already or is no longer valid.")
    check_password(settings, password)
    _set_password(session, user, password)
    return user


def _set_password(session: Session, user: User, password: str) -> None:
    """A new password ends every session and revokes every API token: whoever knew the old
    password may have signed in or made a token with it."""
    user.password_hash = _hasher.hash(password)
    user.session_epoch += 1
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def change_password(
    session: Session, settings: Settings, user: User, current: str, new: str
) -> None:
    errors: dict[str, str] = {}
    try:
        _hasher.verify(user.password_hash or _DUMMY_HASH, current)
    except (VerificationError, InvalidHashError):
        errors["current"] = "This is not your current password."
    try:
        check_password(settings, new)
    except ValueError as exc:
        errors["new"] = str(exc)
    if errors:
        raise AccountFormError(errors)
    _set_password(session, user, new)


def request_email_change(
    session: Session,
    settings: Settings,
    signer: Signer,
    user: User,
    new_email: str,
    password: str,
    now: dt.datetime,
) -> None:
    """Mail a confirmation link to the new address; the change happens when it is used."""
    errors: dict[str, str] = {}
    try:
        _hasher.verify(user.password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        errors["password"] = "This is not your current password."  # noqa: S105 (a message)
    try:
        address, key = normalize_email(new_email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if errors:
        raise AccountFormError(errors)
    if session.scalar(select(User.id).where(func.lower(User.email) == key)) is not None:
        return  # taken: no mail, and no telling
    if not _may_mail(session, settings, key, now):
        return
    token = signer.dumps(EMAIL_PURPOSE, [user.id, address])
    _mail(session, "change_email", user, address, f"{settings.base_url}/account/email/{token}", now)


def confirm_email_change(session: Session, signer: Signer, token: str, now: dt.datetime) -> User:
    user_id, address = _load(signer, EMAIL_PURPOSE, token)[:2]
    user = session.get(User, int(user_id))
    if user is None:
        raise TokenError("This link is no longer valid.")
    taken = session.scalar(
        select(User.id).where(func.lower(User.email) == str(address).lower(), User.id != user.id)
    )
    if taken is not None:
        raise TokenError("Another account uses this address now.")
    user.email, user.email_verified_at = str(address), now
    return user


def delete_account(session: Session, settings: Settings, user: User) -> None:
    """Delete the account: its comments stay as "deleted user", its votes go (and the counts
    they added), its submissions stay on the list without a submitter."""
    from dailypapers.community import recount_votes

    voted = list(session.scalars(select(Vote.paper_id).where(Vote.user_id == user.id)))
    session.execute(update(Comment).where(Comment.user_id == user.id).values(user_id=None))
    session.delete(user)
    session.flush()
    recount_votes(session, settings, voted)


def export_data(session: Session, user: User) -> dict[str, Any]:
    """Everything the site holds about the account, as JSON-ready data."""
    votes = session.scalars(
        select(Paper.arxiv_id).join(Vote, Vote.paper_id == Paper.id).where(Vote.user_id == user.id)
    ).all()
    comments = session.execute(
        select(Comment, Paper.arxiv_id)
        .join(Paper, Paper.id == Comment.paper_id)
        .where(Comment.user_id == user.id)
        .order_by(Comment.created_at)
    ).all()
    submissions = session.execute(
        select(Paper.arxiv_id, DailyEntry.feed_date)
        .join(DailyEntry, DailyEntry.paper_id == Paper.id)
        .where(DailyEntry.submitter_id == user.id)
    ).all()
    orgs = session.execute(
        select(Org.name, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Org.id)
        .where(OrgMember.user_id == user.id)
    ).all()
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    return {
        "account": {
            "username": user.username,
            "fullname": user.fullname,
            "email": user.email,
            "email_verified_at": _iso(user.email_verified_at),
            "role": user.role,
            "created_at": _iso(user.created_at),
        },
        "upvotes": list(votes),
        "comments": [
            {
                "paper": arxiv_id,
                "body": comment.body if comment.deleted_at is None else None,
                "created_at": _iso(comment.created_at),
                "parent_id": comment.parent_id,
                "id": comment.id,
            }
            for comment, arxiv_id in comments
        ],
        "submissions": [{"paper": a, "feed_date": d.isoformat()} for a, d in submissions],
        "organizations": [{"name": n, "role": r} for n, r in orgs],
        "api_tokens": [
            {"name": t.name, "created_at": _iso(t.created_at), "last_used_at": _iso(t.last_used_at)}
            for t in tokens
        ],
        "library": library_export_data(session, user),
        # The URL and its state; never the signing secret (an export file travels).
        "webhooks": [
            {
                "url": hook.url,
                "active": hook.active,
                "disabled_at": _iso(hook.disabled_at),
                "disabled_reason": hook.disabled_reason,
                "created_at": _iso(hook.created_at),
            }
            for hook in session.scalars(
                select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.id)
            )
        ],
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def hash_token(secret: str) -> str:
    """API tokens are random (no need for a slow hash); the database keeps only this."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once


def create_api_token(session: Session, user: User, name: str, now: dt.datetime) -> NewToken:
    label = " ".join(name.split())[:100] or "token"
    secret = "dp_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=label, token_hash=hash_token(secret), created_at=now)
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def revoke_api_token(session: Session, user: User, token_id: int) -> bool:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        return False
    session.delete(token)
    return True


def create_user(
    session: Session,
    settings: Settings,
    *,
    username: str,
    email: str,
    password: str,
    role: str = "user",
    now: dt.datetime,
) -> User:
    """``dailypapers user create``: a verified account, no mail (sign-up's checks, and a taken
    email is said: the admin may know)."""
    name, address, key, errors = check_sign_up(
        session, settings, username=username, email=email, password=password
    )
    if key and session.scalar(select(User.id).where(func.lower(User.email) == key)) is not None:
        errors["email"] = "An account has this address."
    if role not in ROLES:
        errors["role"] = f"Choose one of {', '.join(ROLES)}."
    if errors:
        raise AccountFormError(errors)
    user = User(
        username=name,
        email=address,
        password_hash=_hasher.hash(password),
        role=role,
        created_at=now,
        email_verified_at=now,
        session_epoch=0,
    )
    session.add(user)
    session.flush()
    return user


def check_sign_up(
    session: Session,
    settings: Settings,
    *,
    username: str,
    email: str,
    password: str,
    fullname: str = "",
) -> tuple[str, str, str, dict[str, str]]:
    """Sign-up's checks of every field at once, also run by ``create_user``: (username, address,
    address as compared, errors by field). A taken email is no error here: sign-up must not say."""
    errors: dict[str, str] = {}
    name = address = key = ""
    try:
        name = check_username(username)
    except ValueError as exc:
        errors["username"] = str(exc)
    try:
        address, key = normalize_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    try:
        check_password(settings, password)
    except ValueError as exc:
        errors["password"] = str(exc)
    if len(fullname) > 200:
        errors["fullname"] = "Use at most 200 characters."
    if name and session.scalar(select(User.id).where(User.username == name)) is not None:
        errors["username"] = "This username is taken."
    return name, address, key, errors


def set_role(session: Session, username: str, role: str) -> User:
    if role not in ROLES:
        raise ValueError(f"Choose one of {', '.join(ROLES)}.")
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise ValueError(f"No account is named {username!r}.")
    user.role = role
    return user
