"""Account pages: sign up, sign in and out, verify, reset, settings, tokens, export, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from dailypapers import accounts
from dailypapers.accounts import AccountFormError
from dailypapers.digests import subscriptions as digest_subscriptions
from dailypapers.models import ApiToken, User
from dailypapers.rate_limits import RateLimitedError
from dailypapers.signing import Signer, TokenError
from dailypapers.web import security
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.inputs import row_id_or_404
from dailypapers.web.limits import check_limits, limit_or_429
from dailypapers.web.openapi import REDIRECT, form, page
from dailypapers.web.redirects import local_path
from dailypapers.web.security import CsrfChecked, CurrentUser

router = APIRouter(tags=["accounts"])
Text = Annotated[str, Form(max_length=5000)]
Secret = Annotated[str, Form(max_length=2000)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


def _form(
    request: Request,
    templates: TemplatesDep,
    form: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "form_page.html", {"form": form}, status_code=status_code
    )


def _field(name: str, label: str, kind: str = "text", **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "type": kind, "value": "", "error": None, **extra}


def _signup_form(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    fields = [
        _field(
            "username", "Username", autocomplete="username", hint="3–40 letters, digits, - or _"
        ),
        _field("fullname", "Full name (optional)", autocomplete="name"),
        _field("email", "Email address", "email", autocomplete="email"),
        _field("password", "Password", "password", autocomplete="new-password"),
    ]
    for field in fields:
        field["value"] = values.get(field["name"], "")
        field["error"] = errors.get(field["name"])
    return {
        "title": "Create an account",
        "intro": "To submit papers, upvote and comment. We mail you a link to check the address.",
        "action": "/signup",
        "fields": fields,
        "submit": "Create account",
        "links": [("/signin", "Already have an account? Sign in")],
    }


def _limited(
    request: Request, templates: TemplatesDep, form: dict[str, Any], exc: RateLimitedError
) -> HTMLResponse:
    response = _form(request, templates, {**form, "error": f"{exc} Try again later."}, 429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/signup", response_class=HTMLResponse, summary="Sign-up form")
def signup_page(request: Request, templates: TemplatesDep) -> HTMLResponse:
    return _form(request, templates, _signup_form({}, {}))


@router.post(
    "/signup",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
    responses=page(400, 403, 429),
    summary="Create an account",
)
@writes
def signup_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    username: Text = "",
    fullname: Text = "",
    email: Text = "",
    password: Secret = "",
) -> Response:
    values = {"username": username, "fullname": fullname, "email": email}
    try:
        check_limits(session, settings, request, None, "signup")
        accounts.sign_up(
            session,
            settings,
            _signer(request),
            username=username,
            email=email,
            password=password,
            fullname=fullname,
            now=_now(),
        )
    except RateLimitedError as exc:
        return _limited(request, templates, _signup_form(values, {}), exc)
    except AccountFormError as exc:
        return _form(request, templates, _signup_form(values, exc.errors), 400)
    form = {
        "title": "Check your inbox",
        "intro": f"If {email.strip()} can receive mail, a link to confirm it is on its way. "
        "Then sign in.",
        "links": [("/signin", "Sign in")],
    }
    return _form(request, templates, form)


def _signin_form(login: str, next_path: str, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "Sign in",
        "action": "/signin",
        "error": error,
        "fields": [
            _field("login", "Username or email", value=login, autocomplete="username"),
            _field("password", "Password", "password", autocomplete="current-password"),
            _field("next", "", "hidden", value=next_path),
        ],
        "submit": "Sign in",
        "links": [("/signup", "Create an account"), ("/account/reset", "Forgot your password?")],
    }


@router.get("/signin", response_class=HTMLResponse, summary="Sign-in form")
def signin_page(request: Request, templates: TemplatesDep, next: str = "/") -> HTMLResponse:
    return _form(request, templates, _signin_form("", local_path(next)))


@router.post("/signin", dependencies=[CsrfChecked], **form(400, 403, 429), summary="Sign in")
@writes
def signin_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    login: Text = "",
    password: Secret = "",
    next: Text = "/",
) -> Response:
    target = local_path(next)
    form = _signin_form(login, target)
    # Counted against the account the form names, however it is named (username or email).
    account = accounts.find_login(session, login)
    try:
        check_limits(
            session, settings, request, account, "signin", account_key=login.strip().lower()
        )
    except RateLimitedError as exc:
        return _limited(request, templates, form, exc)
    user = accounts.check_login(account, password)
    if user is None:
        # One message for a wrong address and a wrong password: no account enumeration.
        form["error"] = "The username or email and password do not match an account."
        return _form(request, templates, form, 400)
    security.sign_in(request, session, settings, user)
    request.session["name"] = user.username
    return RedirectResponse(target, status_code=303)


@router.post("/signout", dependencies=[CsrfChecked], **form(403), summary="Sign out")
@writes
def signout(request: Request, session: SessionDep) -> Response:
    security.sign_out(request, session)
    return RedirectResponse("/", status_code=303)


@router.get(
    "/account/verify/{token}",
    response_class=HTMLResponse,
    responses=page(400),
    summary="Verify an address",
)
def verify(
    request: Request, token: str, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    try:
        user = accounts.verify_email(session, _signer(request), token, _now())
    except TokenError as exc:
        raise HTTPException(400, str(exc)) from None
    form = {
        "title": "Address confirmed",
        "intro": f"Thank you, {user.display_name}.",
        "links": [("/signin", "Sign in")],
    }
    return _form(request, templates, form)


def _reset_request_form(email: str = "", notice: str | None = None) -> dict[str, Any]:
    return {
        "title": "Reset your password",
        "intro": "We mail a link to set a new password, valid for an hour.",
        "notice": notice,
        "action": "/account/reset",
        "fields": [_field("email", "Email address", "email", value=email, autocomplete="email")],
        "submit": "Send the link",
    }


@router.get("/account/reset", response_class=HTMLResponse, summary="Password reset form")
def reset_page(request: Request, templates: TemplatesDep) -> HTMLResponse:
    return _form(request, templates, _reset_request_form())


@router.post(
    "/account/reset",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
    responses=page(403, 429),
    summary="Mail a reset link",
)
@writes
def reset_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    email: Text = "",
) -> Response:
    try:
        check_limits(session, settings, request, None, "reset", account_key=email.strip().lower())
    except RateLimitedError as exc:
        return _limited(request, templates, _reset_request_form(email), exc)
    accounts.request_password_reset(session, settings, _signer(request), email, _now())
    notice = "If an account has this address, a link is on its way."  # the same either way
    return _form(request, templates, _reset_request_form(email, notice))


def _new_password_form(token: str, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "Choose a new password",
        "action": f"/account/reset/{token}",
        "fields": [
            _field("password", "New password", "password", autocomplete="new-password", error=error)
        ],
        "submit": "Set the password",
    }


@router.get("/account/reset/{token}", response_class=HTMLResponse, summary="New password form")
def reset_form(request: Request, token: str, templates: TemplatesDep) -> HTMLResponse:
    return _form(request, templates, _new_password_form(token))


@router.post(
    "/account/reset/{token}",
    dependencies=[CsrfChecked],
    **form(400, 403),
    summary="Set a new password",
)
@writes
def reset_submit(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    password: Secret = "",
) -> Response:
    try:
        user = accounts.reset_password(session, settings, _signer(request), token, password)
    except TokenError as exc:
        return _form(
            request,
            templates,
            {**_new_password_form(token), "error": str(exc), "action": None},
            400,
        )
    except ValueError as exc:
        return _form(request, templates, _new_password_form(token, str(exc)), 400)
    security.sign_in(request, session, settings, user)
    request.session["name"] = user.username
    return RedirectResponse("/account?notice=password", status_code=303)


NOTICES = {
    "password": "Your password is changed; other sessions are signed out and API tokens revoked.",
    "email": "A confirmation link is on its way to the new address (if no account uses it).",
    "email-changed": "Your email address is changed.",
    "revoked": "The token is revoked.",
    "verify": "A new confirmation link is on its way to your address.",
}


def _account_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    user: User,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()
    context = {
        "user": user,
        "tokens": tokens,
        "notice": notice,
        "errors": errors or {},
        "values": values or {},
        "new_token": new_token,
        "subscriptions": digest_subscriptions.of_user(session, user),
    }
    return templates.TemplateResponse(request, "account.html", context, status_code=status_code)


@router.get("/account", response_class=HTMLResponse, responses=REDIRECT, summary="Account settings")
def account_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    user: CurrentUser,
    notice: str = "",
) -> HTMLResponse:
    return _account_page(request, session, templates, user, notice=NOTICES.get(notice))


@router.post(
    "/account/password",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Change password",
)
@writes
def change_password(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: CurrentUser,
    current: Secret = "",
    new: Secret = "",
) -> Response:
    try:
        # A password guess like a sign-in's, in the same buckets: a stolen session cannot
        # try passwords here faster than at the sign-in form.
        check_limits(session, settings, request, user, "signin")
        accounts.change_password(session, settings, user, current, new)
    except RateLimitedError as exc:
        return _limited_page(request, session, templates, user, exc, "current")
    except AccountFormError as exc:
        return _account_page(request, session, templates, user, errors=exc.errors, status_code=400)
    security.sign_in(request, session, settings, user)  # this browser stays signed in
    request.session["name"] = user.username
    return RedirectResponse("/account?notice=password", status_code=303)


def _limited_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    user: User,
    exc: RateLimitedError,
    field: str,
    values: dict[str, str] | None = None,
) -> Response:
    """The account page with a 429 under ``field`` and the wait in ``Retry-After``."""
    response = _account_page(
        request,
        session,
        templates,
        user,
        errors={field: f"{exc} Try again later."},
        values=values,
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.post(
    "/account/verify",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Mail a new confirmation link",
)
@writes
def resend_verification(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: CurrentUser,
) -> Response:
    try:
        check_limits(session, settings, request, user, "email")
    except RateLimitedError as exc:
        return _limited_page(request, session, templates, user, exc, "verify")
    accounts.send_verification(session, settings, _signer(request), user, _now())
    return RedirectResponse("/account?notice=verify", status_code=303)


@router.post(
    "/account/email",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Change email address",
)
@writes
def change_email(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: CurrentUser,
    email: Text = "",
    password: Secret = "",
) -> Response:
    try:
        check_limits(session, settings, request, user, "email")
        accounts.request_email_change(
            session, settings, _signer(request), user, email, password, _now()
        )
    except RateLimitedError as exc:
        return _limited_page(request, session, templates, user, exc, "email", {"email": email})
    except AccountFormError as exc:
        return _account_page(
            request,
            session,
            templates,
            user,
            errors=exc.errors,
            values={"email": email},
            status_code=400,
        )
    return RedirectResponse("/account?notice=email", status_code=303)


@router.get(
    "/account/email/{token}",
    status_code=303,
    response_class=RedirectResponse,
    responses=page(400),
    summary="Confirm a new address",
)
def confirm_email(request: Request, token: str, session: SessionDep) -> Response:
    try:
        accounts.confirm_email_change(session, _signer(request), token, _now())
    except TokenError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse("/account?notice=email-changed", status_code=303)


@router.post(
    "/account/tokens",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
    responses=page(401, 403, 429),
    summary="Create an API token",
)
@writes
def create_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: CurrentUser,
    name: Text = "",
) -> HTMLResponse:
    limit_or_429(request, session, settings, user, "write")
    created = accounts.create_api_token(session, user, name, _now())
    return _account_page(request, session, templates, user, new_token=created.secret)


@router.post(
    "/account/tokens/{token_id}/revoke",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Revoke a token",
)
@writes
def revoke_token(
    request: Request, token_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> Response:
    limit_or_429(request, session, settings, user, "write")
    if not accounts.revoke_api_token(session, user, row_id_or_404(token_id, "token")):
        raise HTTPException(404, "No such token.")
    return RedirectResponse("/account?notice=revoked", status_code=303)


@router.get("/account/export", responses=REDIRECT, summary="Download your data (JSON)")
def export(session: SessionDep, user: CurrentUser) -> JSONResponse:
    data = accounts.export_data(session, user)
    headers = {"Content-Disposition": f'attachment; filename="dailypapers-{user.username}.json"'}
    return JSONResponse(data, headers=headers)


@router.post(
    "/account/delete",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Delete your account",
)
@writes
def delete(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: CurrentUser,
    password: Secret = "",
) -> Response:
    try:
        check_limits(session, settings, request, user, "signin")  # a password guess
    except RateLimitedError as exc:
        return _limited_page(request, session, templates, user, exc, "delete")
    if accounts.authenticate(session, user.username, password) is None:
        errors = {"delete": "This is not your password."}
        return _account_page(request, session, templates, user, errors=errors, status_code=400)
    security.sign_out(request, session)
    accounts.delete_account(session, settings, user)
    return RedirectResponse("/", status_code=303)
