"""What a digest holds: the top papers of a period for one subscription (service, no commits).

A :class:`PeriodComposer` is made once per period and run: it ranks the period's Daily Papers
once, searches each distinct topic query once (10,000 subscribers with 500 distinct topics make
500 searches, not 5,000), and then picks for each subscription its best papers that it has not
been sent before.

- Trending (no topic): the period's Daily Papers list, by shown upvotes then submission time,
  as on the feed pages.
- Topic: papers of the period that match the query — those on the Daily Papers list and those
  arXiv announced in the period — by shown upvotes, then lexical relevance.
- For me (``kind="for_me"``): the period's Daily Papers ranked for the owning account by
  ``foryou.digest.PeriodRanker`` (trending, saying so, for an empty profile).
- Alerts (``kind="alerts"``): no list; the mail is its "From your follows" section
  (``digests/alerts.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.orm import Session

from dailypapers.bulk import insert_rows
from dailypapers.calendar import day_status
from dailypapers.config import Settings
from dailypapers.foryou.digest import PeriodRanker
from dailypapers.library.marks import dismissed_by_subscription
from dailypapers.models import (
    DailyEntry,
    DigestReceived,
    DigestTopicMatch,
    Paper,
    Subscription,
)
from dailypapers.papers import latest_feed_date, newest_ingested_day
from dailypapers.periods import DigestCadence, FeedWindow, parse_digest_period, week_window_of
from dailypapers.search import lexical

KIND_LIST, KIND_FOR_ME, KIND_ALERTS = "list", "for_me", "alerts"
SHOWN_UPVOTES = Paper.external_upvotes + Paper.local_upvotes
# Topic matches considered per query and period before ranking by upvotes.
TOPIC_CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class ComposedDigest:
    """The paper ids of one digest, best first; ``note`` says why it is empty. A "for me"
    digest also has the reasons of each paper and, with an empty profile, why it is the
    trending list instead (``fallback``)."""

    paper_ids: list[int]
    note: str | None = None
    reasons: dict[int, list[str]] = field(default_factory=dict)
    fallback: str | None = None


class PeriodComposer:
    """Composes a period's digests. With ``share_topics`` (the send jobs), each topic's results
    are stored the first time they are searched, so every job and worker of the period reuses
    them; previews and samples read stored results but store nothing."""

    def __init__(
        self, session: Session, settings: Settings, period_key: str, *, share_topics: bool = False
    ) -> None:
        self.session = session
        self.share_topics = share_topics
        self.settings = settings
        self.period_key = period_key
        self.cadence: DigestCadence
        self.window: FeedWindow
        self.cadence, self.window = parse_digest_period(period_key)
        self._trending: list[int] | None = None
        self._topics: dict[str, list[int]] = {}
        self._ranker: PeriodRanker | None = None

    @property
    def ranker(self) -> PeriodRanker:
        if self._ranker is None:
            self._ranker = PeriodRanker(self.session, self.window)
        return self._ranker

    @property
    def label(self) -> str:
        return self.window.label

    def trending_ids(self) -> list[int]:
        if self._trending is None:
            statement = (
                select(DailyEntry.paper_id)
                .join(DailyEntry.paper)
                .where(
                    DailyEntry.feed_date.between(self.window.start, self.window.end),
                    Paper.hidden_at.is_(None),
                )
                .order_by(SHOWN_UPVOTES.desc(), DailyEntry.submitted_at, Paper.arxiv_id)
            )
            self._trending = list(self.session.scalars(statement))
        return self._trending

    def load_topics(self, queries: Collection[str]) -> None:
        """Fetch the stored results of these topics for this period in one query."""
        wanted = [query for query in queries if query not in self._topics]
        if not wanted:
            return
        stored = self.session.execute(
            select(DigestTopicMatch.topic_query, DigestTopicMatch.paper_ids).where(
                DigestTopicMatch.period_key == self.period_key,
                DigestTopicMatch.topic_query.in_(wanted),
            )
        ).all()
        for query, paper_ids in stored:
            self._topics[query] = list(paper_ids)

    def topic_ids(self, query: str) -> list[int]:
        """Papers of the period matching ``query``, searched once per distinct query."""
        if query not in self._topics:
            self.load_topics([query])
        if query not in self._topics:
            on_list = select(DailyEntry.paper_id).where(
                DailyEntry.feed_date.between(self.window.start, self.window.end)
            )
            in_period = and_(
                or_(
                    Paper.id.in_(on_list),
                    Paper.listing_date.between(self.window.start, self.window.end),
                ),
                Paper.hidden_at.is_(None),
            )
            matches: list[int] = list(
                self.session.scalars(
                    lexical.matching(self.session, query, in_period).limit(TOPIC_CANDIDATES)
                )
            )
            relevance = {paper_id: rank for rank, paper_id in enumerate(matches)}
            upvotes = dict(
                self.session.execute(
                    select(Paper.id, SHOWN_UPVOTES).where(Paper.id.in_(matches))
                ).all()
            )
            self._topics[query] = sorted(matches, key=lambda i: (-upvotes[i], relevance[i]))
            if self.share_topics:
                row = {
                    "period_key": self.period_key,
                    "topic_query": query,
                    "paper_ids": self._topics[query],
                    "created_at": dt.datetime.now(dt.UTC),
                }
                # Another job may have stored it meanwhile: theirs stands, the same search.
                insert_rows(
                    self.session.connection(),
                    cast(Table, DigestTopicMatch.__table__),
                    [row],
                    suffix="ON CONFLICT DO NOTHING",
                )
        return self._topics[query]

    def received(self, subscription_ids: Collection[int]) -> dict[int, set[int]]:
        """For each subscription, which of this period's candidate papers it was already sent."""
        candidates = set(self.trending_ids())
        for ids in self._topics.values():
            candidates.update(ids)
        if self._ranker is not None:
            candidates.update(entry.paper_id for entry in self._ranker.entries())
        found: dict[int, set[int]] = defaultdict(set)
        if not subscription_ids or not candidates:
            return found
        rows = self.session.execute(
            select(DigestReceived.subscription_id, DigestReceived.paper_id).where(
                DigestReceived.subscription_id.in_(subscription_ids),
                DigestReceived.paper_id.in_(candidates),
            )
        )
        for subscription_id, paper_id in rows:
            found[subscription_id].add(paper_id)
        return found

    def compose(self, subscription: Subscription, already_sent: Iterable[int]) -> ComposedDigest:
        if subscription.kind == KIND_ALERTS:
            return ComposedDigest([])
        if subscription.kind == KIND_FOR_ME:
            return self._for_me([subscription], {subscription.id: set(already_sent)})[
                subscription.id
            ]
        topic = subscription.topic_query
        ranked = self.topic_ids(topic) if topic else self.trending_ids()
        sent = set(already_sent)
        fresh = [paper_id for paper_id in ranked if paper_id not in sent]
        if fresh:
            return ComposedDigest(fresh[: subscription.paper_count])
        return ComposedDigest([], self.empty_note(topic, had_papers=bool(ranked)))

    def compose_many(self, subscriptions: Collection[Subscription]) -> dict[int, ComposedDigest]:
        self.load_topics({s.topic_query for s in subscriptions if s.topic_query})
        for subscription in subscriptions:  # search every topic before asking what was sent
            if subscription.topic_query:
                self.topic_ids(subscription.topic_query)
        ids = [s.id for s in subscriptions]
        personal = [s for s in subscriptions if s.kind == KIND_FOR_ME]
        if personal:  # their candidates count in what was sent
            self.ranker.entries()
        sent = self.received(ids)
        # A paper the subscription's account dismissed ("not interested") is never sent either.
        for subscription_id, papers in dismissed_by_subscription(self.session, ids).items():
            sent[subscription_id] |= papers
        composed = self._for_me(personal, sent)
        for subscription in subscriptions:
            if subscription.id not in composed:
                composed[subscription.id] = self.compose(
                    subscription, sent.get(subscription.id, ())
                )
        return composed

    def _for_me(
        self, subscriptions: Collection[Subscription], sent: Mapping[int, set[int]]
    ) -> dict[int, ComposedDigest]:
        """ "For me" digests, ranked for their owners in one pass of the ranker."""
        owned = [s for s in subscriptions if s.user_id is not None]
        sizes: dict[int, int] = {}
        exclude: dict[int, set[int]] = defaultdict(set)
        for subscription in owned:
            user = cast(int, subscription.user_id)
            sizes[user] = max(sizes.get(user, 0), subscription.paper_count)
            exclude[user] |= sent.get(subscription.id, set())
        ranked = self.ranker.rank(sizes, exclude)
        out = {}
        for subscription in subscriptions:
            pick = ranked.get(subscription.user_id) if subscription.user_id else None
            if pick is None:  # the account is gone (SET NULL): nothing to rank for
                out[subscription.id] = ComposedDigest([], "This digest's account was deleted.")
                continue
            papers = pick.paper_ids[: subscription.paper_count]
            if not papers:
                had = bool(self.ranker.entries())
                out[subscription.id] = ComposedDigest([], self.empty_note("", had_papers=had))
                continue
            reasons = {pid: pick.reasons[pid] for pid in papers if pick.reasons.get(pid)}
            out[subscription.id] = ComposedDigest(papers, None, reasons, pick.fallback)
        return out

    def empty_note(self, topic: str, *, had_papers: bool) -> str:
        """Why there is nothing to send: weekend, holiday, not ingested, or nothing new/matching."""
        if topic:
            return f"No new papers matched “{topic}” in {self.describe_period()}."
        if had_papers:
            return f"Nothing new in {self.describe_period()}: you have seen every paper of it."
        if self.cadence == "daily":
            status = day_status(
                self.window.start,
                count=0,
                today=self.settings.current_date(),
                newest_ingested=newest_ingested_day(self.session),
                holidays=self.settings.holidays,
            )
            return status.message
        return f"No papers were put on the list in {self.describe_period()}."

    def describe_period(self) -> str:
        if self.cadence == "daily":
            return f"the list of {self.window.start.strftime('%A, %B %-d, %Y')}"
        return self.window.label.replace("Week", "week", 1)


def load_papers(session: Session, paper_ids: Collection[int]) -> dict[int, Paper]:
    """The papers of some digests in one query, by id; papers hidden by moderators since the
    digest was composed are left out."""
    if not paper_ids:
        return {}
    papers = session.scalars(
        select(Paper).where(Paper.id.in_(paper_ids), Paper.hidden_at.is_(None))
    )
    return {paper.id: paper for paper in papers}


def in_order(papers: Mapping[int, Paper], paper_ids: Iterable[int]) -> list[Paper]:
    """The papers of a digest in its order, skipping any hidden since it was composed."""
    return [papers[i] for i in paper_ids if i in papers]


def latest_period(session: Session, settings: Settings, cadence: str) -> str:
    """The newest period with a list: what a sample or a preview shows."""
    day = latest_feed_date(session, settings.current_date()) or settings.current_date()
    if cadence == "weekly":
        return f"weekly:{week_window_of(day).key}"
    return f"daily:{day.isoformat()}"
