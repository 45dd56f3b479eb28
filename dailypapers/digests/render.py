"""Turning a digest or a confirmation into a MIME message (Jinja2 text + HTML parts).

Templates live in ``templates/<name>/{subject.txt,body.txt,body.html}``. The HTML part is a
≤ 600 px table layout with every style inline (mail clients drop ``<style>`` blocks and
classes); the text part is complete on its own. Every link is absolute, from BASE_URL.
"""

from __future__ import annotations

import datetime as dt
import email.charset
import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dailypapers import arxiv_ids
from dailypapers.config import Settings
from dailypapers.display import author_line, shorten
from dailypapers.models import Paper, Subscription

TEMPLATES_DIR = Path(__file__).parent / "templates"
DIGEST_ABSTRACT_CHARS = 280
# UTF-8 bodies as quoted-printable: readable source, safe through any relay (no 8BITMIME needed).
UTF8_QP = email.charset.Charset("utf-8")
UTF8_QP.body_encoding = email.charset.QP
# Rendered digests kept per job: subscribers with the same papers share one render.
RENDER_CACHE_SIZE = 2048
TOKEN_PLACEHOLDER = "@@SUBSCRIPTION-TOKEN@@"  # noqa: S105 (replaced by each subscriber's token)


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
        self._digest_cache: dict[tuple[Any, ...], MailParts] = {}

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

        Built with the ``email.mime`` classes (the compat32 API): measured 0.9 ms a 20 KiB
        digest against 1.6 ms with ``EmailMessage``, whose header objects re-parse and
        re-fold every value. That API does not refuse line breaks in header values, so this
        method does."""
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

    def digest_message(
        self,
        subscription: Subscription,
        parts: MailParts,
        *,
        message_id: str,
        now: dt.datetime | None = None,
    ) -> Message:
        """A digest (or sample) as mailed: to the subscriber, with the list headers."""
        return self.message(
            parts,
            to=subscription.email,
            message_id=message_id,
            headers=self.list_headers(subscription),
            now=now,
        )

    def paper_view(self, paper: Paper) -> dict[str, Any]:
        base = self.settings.base_url
        return {
            "title": paper.title,
            "url": f"{base}/papers/{quote(paper.arxiv_id, safe='/')}",
            "arxiv_url": arxiv_ids.abs_url(paper.arxiv_id),
            "pdf_url": arxiv_ids.pdf_url(paper.arxiv_id),
            "code_url": paper.github_repo,
            "authors": author_line(list(paper.author_names)),
            "abstract": shorten(paper.abstract, DIGEST_ABSTRACT_CHARS),
            "upvotes": paper.upvotes,
        }

    def digest_message_id(self, subscription_id: int, period_key: str) -> str:
        """Stable per (subscription, period): a resend after a crash carries the same id."""
        cadence, _, key = period_key.partition(":")
        return f"<digest.{cadence}.{key}.s{subscription_id}@{self.mail_domain}>"

    def list_headers(self, subscription: Subscription) -> dict[str, str]:
        """RFC 2369 / RFC 8058: one-click unsubscribe by POST to the https URL; a mailto only
        when an inbound address is configured."""
        url = unsubscribe_url(self.settings, subscription)
        targets = [f"<{url}>"]
        if self.settings.mail_unsubscribe_address:
            address = quote(self.settings.mail_unsubscribe_address, safe="@")
            # The secret token, not the id: anyone can send mail with any sender address.
            token = subscription.unsubscribe_token
            targets.append(f"<mailto:{address}?subject=unsubscribe%20{token}>")
        return {
            "List-Unsubscribe": ", ".join(targets),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{one_line(self.settings.site_name)} digest <digest.{self.mail_domain}>",
            "Auto-Submitted": "auto-generated",
        }

    def digest(
        self,
        subscription: Subscription,
        *,
        period_key: str,
        period_label: str,
        papers: Sequence[Paper],
        note: str | None,
        sample: bool = False,
    ) -> MailParts:
        """The digest's parts. Only the links carry the subscriber (their token), so a render is
        shared by every subscription with the same papers, topic and note, and the token is put
        in afterwards (10,000 trending subscribers: one Jinja render, not 10,000)."""
        cache_key = (
            period_key,
            period_label,
            subscription.topic_query,
            tuple(paper.id for paper in papers),
            note,
            sample,
        )
        shared = self._digest_cache.get(cache_key)
        if shared is None:
            if len(self._digest_cache) >= RENDER_CACHE_SIZE:
                self._digest_cache.clear()
            cadence, _, key = period_key.partition(":")
            base = self.settings.base_url
            shared = self.render(
                "digest",
                {
                    "cadence": cadence,
                    "period_label": period_label,
                    "topic": subscription.topic_query,
                    "papers": [self.paper_view(paper) for paper in papers],
                    "note": note,
                    "sample": sample,
                    "web_url": f"{base}/digests/{cadence}/{key}",
                    "manage_url": f"{base}/subscriptions/{TOKEN_PLACEHOLDER}",
                    "unsubscribe_url": f"{base}/unsubscribe/{TOKEN_PLACEHOLDER}",
                },
            )
            self._digest_cache[cache_key] = shared
        token = subscription.unsubscribe_token
        return MailParts(
            shared.subject,
            shared.text.replace(TOKEN_PLACEHOLDER, token),
            shared.html.replace(TOKEN_PLACEHOLDER, token),
        )


def unsubscribe_url(settings: Settings, subscription: Subscription) -> str:
    return f"{settings.base_url}/unsubscribe/{subscription.unsubscribe_token}"
