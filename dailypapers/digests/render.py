"""Digest mails: the digest template's context, its list headers and a render shared by every
subscriber with the same papers (the generic part is ``mail/render.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Any
from urllib.parse import quote

from dailypapers import arxiv_ids
from dailypapers.config import Settings
from dailypapers.display import author_line, shorten
from dailypapers.library.marks import PaperState
from dailypapers.mail.render import MailParts, MailRenderer, one_line
from dailypapers.models import Paper, Subscription

DIGEST_ABSTRACT_CHARS = 280
# Rendered digests kept per job: subscribers with the same papers share one render.
RENDER_CACHE_SIZE = 2048
TOKEN_PLACEHOLDER = "@@SUBSCRIPTION-TOKEN@@"  # noqa: S105 (replaced by each subscriber's token)


class DigestRenderer(MailRenderer):
    """The mail renderer with what digests and samples add."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._digest_cache: dict[tuple[Any, ...], MailParts] = {}

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

    def paper_view(self, paper: Paper, state: PaperState | None = None) -> dict[str, Any]:
        base = self.settings.base_url
        return {
            "marks": mark_words(state),
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
        states: Mapping[int, PaperState] | None = None,
        reasons: Mapping[int, Sequence[str]] | None = None,
        fallback: str | None = None,
        alerts: Sequence[tuple[Paper, Sequence[str]]] = (),
    ) -> MailParts:
        """The digest's parts. Only the links carry the subscriber (their token), so a render is
        shared by every subscription with the same papers, topic and note, and the token is put
        in afterwards (10,000 trending subscribers: one Jinja render, not 10,000). ``reasons``
        (a "for me" list's, by paper id), ``fallback`` (why it is trending instead) and
        ``alerts`` (the "From your follows" section: papers with their reasons) are optional."""
        reasons = reasons or {}
        cache_key = (
            period_key,
            period_label,
            subscription.kind,
            subscription.topic_query,
            tuple(paper.id for paper in papers),
            note,
            sample,
            tuple(mark_words(states.get(paper.id)) for paper in papers) if states else (),
            tuple(tuple(reasons.get(paper.id, ())) for paper in papers) if reasons else (),
            fallback,
            tuple((paper.id, tuple(why)) for paper, why in alerts),
            tuple(mark_words(states.get(paper.id)) for paper, _ in alerts) if states else (),
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
                    "kind": subscription.kind,
                    "papers": [
                        {
                            **self.paper_view(paper, (states or {}).get(paper.id)),
                            "reasons": list(reasons.get(paper.id, ())),
                        }
                        for paper in papers
                    ],
                    "fallback": fallback,
                    "alerts": [
                        {
                            **self.paper_view(paper, (states or {}).get(paper.id)),
                            "reasons": list(why),
                        }
                        for paper, why in alerts
                    ],
                    "note": note,
                    "sample": sample,
                    "web_url": f"{base}/digests/{cadence}/{key}",
                    "manage_url": f"{base}/subscriptions/{TOKEN_PLACEHOLDER}",
                    "follows_url": f"{base}/account/follows",
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


def mark_words(state: PaperState | None) -> tuple[str, ...]:
    """The reader's marks on a paper as a digest prints them, as the site's cards word them."""
    if state is None:
        return ()
    words = ["saved"] if state.saved else []
    if state.read:
        words.append("read")
    elif state.seen:
        words.append("seen")
    return tuple(words)


def unsubscribe_url(settings: Settings, subscription: Subscription) -> str:
    return f"{settings.base_url}/unsubscribe/{subscription.unsubscribe_token}"
