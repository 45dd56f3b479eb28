"""The SMTP mailer against aiosmtpd: replies sorted into transient and permanent errors."""

from __future__ import annotations

import io
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from dailypapers.config import Settings
from dailypapers.mail.mailer import (
    ConsoleMailer,
    MailConfigError,
    PermanentMailError,
    SmtpMailer,
    TransientMailError,
)
from tests.support import free_port
from tests.support.database import make_settings
from tests.support.smtp import SmtpRecorder

pytestmark = pytest.mark.both_backends


def _message(to: str = "reader@example.org", subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "digest@localhost"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("body")
    return message


def _settings(tmp_path: object, port: int, **overrides: object) -> Settings:
    return make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port, **overrides)  # type: ignore[arg-type]


def test_one_connection_carries_many_messages(
    tmp_path: object, smtp_server: tuple[SmtpRecorder, int]
) -> None:
    smtp, port = smtp_server
    mailer = SmtpMailer(_settings(tmp_path, port))
    for i in range(3):
        mailer.send(_message(subject=f"n{i}"))
    connection = mailer._connection
    mailer.send(_message())
    assert mailer._connection is connection
    mailer.close()
    assert [str(m["Subject"]) for m in smtp.messages] == ["n0", "n1", "n2", "Hello"]


def test_replies_are_sorted_into_transient_and_permanent(
    tmp_path: object, smtp_server: tuple[SmtpRecorder, int]
) -> None:
    smtp, port = smtp_server
    mailer = SmtpMailer(_settings(tmp_path, port))
    smtp.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    smtp.rcpt_replies["busy@example.org"] = "450 4.2.1 Mailbox busy"
    with pytest.raises(PermanentMailError, match="550") as permanent:
        mailer.send(_message("gone@example.org"))
    assert permanent.value.code == 550
    with pytest.raises(TransientMailError, match="450"):
        mailer.send(_message("busy@example.org"))
    smtp.data_replies = ["421 4.7.0 Closing connection"]
    with pytest.raises(TransientMailError, match="421"):
        mailer.send(_message())
    assert mailer._connection is None  # a 421 closes: the next send reconnects
    mailer.send(_message())
    mailer.close()
    assert len(smtp.messages) == 1


def test_a_server_that_is_down_is_a_transient_error(tmp_path: object) -> None:
    mailer = SmtpMailer(_settings(tmp_path, free_port(), smtp_timeout_seconds=2))
    with pytest.raises(TransientMailError, match="connection problem"):
        mailer.send(_message())


def test_a_password_is_never_sent_in_clear_to_a_remote_host(tmp_path: object) -> None:
    settings = make_settings(
        tmp_path,  # type: ignore[arg-type]
        smtp_host="smtp.example.org",
        smtp_username="me",
        smtp_password="secret",
        smtp_security="none",
    )
    with pytest.raises(MailConfigError, match="starttls"):
        SmtpMailer(settings)


def test_the_console_mailer_prints_instead_of_sending() -> None:
    stream = io.StringIO()
    ConsoleMailer(stream).send(_message(subject="Printed"))
    assert "Subject: Printed" in stream.getvalue()
    assert "body" in stream.getvalue()


def test_starttls_and_login_against_a_server_with_a_private_ca(tmp_path: Path) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"me" and data.password == b"secret")

    recorder, port = SmtpRecorder(), free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        settings = _settings(
            tmp_path,
            port,
            smtp_security="starttls",
            smtp_ca_file=ca_file,
            smtp_username="me",
            smtp_password="secret",
        )
        mailer = SmtpMailer(settings)
        mailer.send(_message())
        mailer.close()
        # Without the private CA the certificate is not trusted: a clear, retryable error.
        untrusting = SmtpMailer(_settings(tmp_path, port, smtp_security="starttls"))
        with pytest.raises(TransientMailError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.send(_message())
    finally:
        controller.stop()
    assert len(recorder.messages) == 1
    assert logins[0] == (b"me", b"secret")
