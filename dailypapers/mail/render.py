"""Turning a template into a MIME message (Jinja2 text + HTML parts), for every mail the site
sends: account links, subscription confirmations, digests.

Templates live in ``templates/<name>/{subject.txt,body.txt,body.html}``. The HTML part is a
≤ 600 px table layout with every style inline (mail clients drop ``<style>`` blocks and
classes); the text part is complete on its own. Every link is absolute, from BASE_URL.
"""

from __future__ import annotations

import datetime as dt
import email.charset
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dailypapers.config import Settings
from dailypapers.display import author_line, shorten

TEMPLATES_DIR = Path(__file__).parent / "templates"
# UTF-8 bodies as quoted-printable: readable source, safe through any relay (no 8BITMIME needed).
UTF8_QP = email.charset.Charset("utf-8")
UTF8_QP.body_encoding = email.charset.QP


@dataclass(frozen=True, slots=True)
class MailParts:
    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """Header text on one line: no CR/LF or other control character can start a new header."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


class MailRenderer:
    """One Jinja2 environment for every mail, built once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["shorten"] = shorten
        self.env.filters["author_line"] = author_line
        self.env.globals["site_name"] = settings.site_name
        self.env.globals["base_url"] = settings.base_url
        self.mail_domain = urlsplit(settings.base_url).hostname or "localhost"

    def render(self, name: str, context: Mapping[str, Any]) -> MailParts:
        """The three parts of ``templates/<name>/``. The HTML part also gets the rendered text
        as ``text_body`` (autoescaped there), for mails whose HTML just frames the text."""

        def part(filename: str, extra: Mapping[str, Any] = {}) -> str:
            return self.env.get_template(f"{name}/{filename}").render({**context, **extra})

        text = part("body.txt")
        html = part("body.html", {"text_body": text})
        return MailParts(one_line(part("subject.txt")), text, html)

    def message(
        self,
        parts: MailParts,
        *,
        to: str,
        message_id: str,
        headers: Mapping[str, str] = {},
        now: dt.datetime | None = None,
    ) -> Message:
        """multipart/alternative, UTF-8 quoted-printable parts.

        Built with the ``email.mime`` classes (the compat32 API), faster than ``EmailMessage``
        (docs/benchmarks.md), whose header objects re-parse and re-fold every value. That API
        does not refuse line breaks in header values, so this method does."""
        message = MIMEMultipart("alternative")
        fields = {
            "From": email.utils.formataddr(
                email.utils.parseaddr(self.settings.mail_from), charset="utf-8"
            ),
            "To": to,
            "Date": email.utils.format_datetime(now or dt.datetime.now(dt.UTC)),
            "Message-ID": message_id,
            **headers,
        }
        for name, value in fields.items():
            if "\r" in value or "\n" in value.replace("\n ", ""):
                raise ValueError(f"a line break in the {name} header")
            message[name] = value
        # A Header object, so the folding knows the name's length (no empty first line).
        message["Subject"] = Header(parts.subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
        # MIMEText passes the charset to set_payload, which takes a Charset (typeshed says str).
        message.attach(MIMEText(parts.text, "plain", UTF8_QP))  # type: ignore[arg-type]
        message.attach(MIMEText(parts.html, "html", UTF8_QP))  # type: ignore[arg-type]
        return message
