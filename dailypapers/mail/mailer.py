"""How mail leaves: ``Mailer`` with an SMTP and a console implementation (DESIGN.md §2).

A mailer sends one message at a time and keeps its SMTP connection open between messages, so a
digest run pays one handshake per worker, not one per subscriber. Errors are sorted the way SMTP
means them: a 4xx reply or a dropped connection is :class:`TransientMailError` (try again
later), a 5xx reply is :class:`PermanentMailError` (this recipient will not take it).
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Protocol, TextIO

from dailypapers.config import Settings


class MailError(Exception):
    """``recipient``: the reply concerns this recipient only (RCPT, or DATA for one recipient);
    otherwise the server or our configuration refused (sender, login, a dropped connection),
    and no subscriber is to blame."""

    def __init__(self, message: str, code: int | None = None, *, recipient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.recipient = recipient


class TransientMailError(MailError):
    """4xx or a lost connection: the same message may succeed later."""


class PermanentMailError(MailError):
    """5xx: the server refuses this message or recipient for good."""


class MailConfigError(ValueError):
    """The SMTP settings cannot work safely (e.g. a password sent in clear to a remote host)."""


class Mailer(Protocol):
    def send(self, message: Message) -> None:
        """Deliver one message or raise a :class:`MailError`."""

    def close(self) -> None:
        """Let go of any connection; the mailer reconnects if used again."""


def _reply_error(code: int, reply: bytes | str, what: str, *, recipient: bool) -> MailError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"{what}: {code} {text}".strip()
    if 400 <= code < 500 or not recipient:
        # A refusal that is not about the recipient (sender, login, relay) is retried later
        # and blamed on no one: it is the operator's to fix.
        return TransientMailError(message, code, recipient=recipient)
    return PermanentMailError(message, code, recipient=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpMailer:
    """SMTP with optional STARTTLS / implicit TLS and login, one connection reused."""

    def __init__(self, settings: Settings) -> None:
        if (
            settings.smtp_username
            and settings.smtp_security == "none"
            and not _is_loopback(settings.smtp_host)
        ):
            raise MailConfigError(
                "SMTP_USERNAME is set but SMTP_SECURITY is `none`: the password would cross the "
                f"network to {settings.smtp_host} in clear; use `starttls` or `tls`."
            )
        self.settings = settings
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )
        connection: smtplib.SMTP
        if settings.smtp_security == "tls":
            connection = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.smtp_timeout_seconds,
                context=context,
            )
        else:
            connection = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
            )
            if settings.smtp_security == "starttls":
                connection.starttls(context=context)
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            connection.login(settings.smtp_username, password)
        return connection

    def send(self, message: Message) -> None:
        try:
            # A kept connection may have been closed by the server while idle: one reconnect.
            for attempt in (1, 2):
                if self._connection is None:
                    self._connection = self._connect()
                try:
                    self._connection.send_message(message)
                    return
                except smtplib.SMTPServerDisconnected:
                    self.close()
                    if attempt == 2:
                        raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _reply_error(code, reply, "recipient refused", recipient=True) from None
        except smtplib.SMTPDataError as exc:  # after DATA, for our one recipient
            if exc.smtp_code == 421:
                self.close()
            raise _reply_error(
                exc.smtp_code, exc.smtp_error, "message refused", recipient=exc.smtp_code != 421
            ) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, login failed, …
            self.close()
            raise _reply_error(
                exc.smtp_code, exc.smtp_error, "server refused", recipient=False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransientMailError(f"connection problem: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


class ConsoleMailer:
    """Prints each message's headers and text part (``make demo``): nothing is delivered."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        text = ""
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    text = payload.decode(part.get_content_charset() or "utf-8", "replace")
                break
        headers = "".join(f"{name}: {message[name]}\n" for name in ("To", "Subject", "Message-ID"))
        with self._lock:
            self.stream.write(f"----- mail (console mailer) -----\n{headers}\n{text}\n")
            self.stream.flush()

    def close(self) -> None:
        return None


def make_mailer(settings: Settings) -> Mailer:
    if settings.mailer == "console":
        return ConsoleMailer()
    return SmtpMailer(settings)


@contextmanager
def open_mailer(settings: Settings, mailer: Mailer | None = None) -> Iterator[Mailer]:
    """``mailer`` as given (the caller closes it), or one from settings closed at the end."""
    own = mailer is None
    active = mailer or make_mailer(settings)
    try:
        yield active
    finally:
        if own:
            active.close()
