"""The account mails (verification, reset, email change, "account exists"): queued by
``accounts.py`` in the caller's transaction, sent here by the worker."""

from __future__ import annotations

import email.utils
from typing import Any

from dailypapers import jobs
from dailypapers.db import session_scope
from dailypapers.jobs import ACCOUNT_MAIL_JOB, JobContext
from dailypapers.mail.mailer import PermanentMailError, make_mailer
from dailypapers.mail.render import MailRenderer
from dailypapers.models import User


def run_account_mail_job(context: JobContext, payload: dict[str, Any]) -> None:
    """Worker handler: send a verification, reset, email-change or "account exists" mail."""
    renderer = MailRenderer(context.settings)
    with session_scope(context.factory) as session:
        user = session.get(User, int(payload["user_id"]))
        if user is None:
            return
        parts = renderer.render(
            str(payload["template"]), {"name": user.display_name, "url": payload.get("url", "")}
        )
    message = renderer.message(
        parts,
        to=str(payload["to"]),
        message_id=email.utils.make_msgid("account", domain=renderer.mail_domain),
        now=context.now,
    )
    mailer = make_mailer(context.settings)
    try:
        mailer.send(message)
    except PermanentMailError:
        return  # the address refuses mail: nothing a retry can change
    finally:
        mailer.close()


HANDLERS: dict[str, jobs.Handler] = {ACCOUNT_MAIL_JOB: run_account_mail_job}
