"""Which stored papers match which follows, and the true reason for each (no commits).

Authors, categories and orgs are matched in Python against the papers' own fields and looked
up by ``(kind, target)`` (indexed), so the cost grows with the new papers, not with the users.
A saved search runs once per distinct query (many users following "diffusion" cost one
search) through ``search.lexical.matching`` restricted to the new papers, its filters applied;
a filter-only query (``author:"X"``) matches too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.authors.names import cached_author_key
from dailypapers.models import DailyEntry, Follow, Org, Paper
from dailypapers.search import lexical


@dataclass
class UserMatch:
    """One user's match of one paper: every reason, and the channels of the follows."""

    reasons: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)


def reason(kind: str, label: str) -> str:
    """How a follow's match is worded for people."""
    if kind == "author":
        return f"by {label}, whom you follow"
    if kind == "org":
        return f"from {label}, which you follow"
    if kind == "category":
        return f"in {label}, which you follow"
    return f"matches your search “{label}”"


def match_papers(
    session: Session, paper_ids: Collection[int], *, user_id: int | None = None
) -> dict[int, dict[int, UserMatch]]:
    """``user id → paper id → match`` for these papers (hidden papers never match); with
    ``user_id``, that user's follows only (the For you page asks for one reader)."""
    found: dict[int, dict[int, UserMatch]] = defaultdict(lambda: defaultdict(UserMatch))
    if not paper_ids:
        return {}
    mine: list[Follow] | None = None
    if user_id is not None:  # one reader's follows (at most a few hundred), or nothing to do
        mine = list(session.scalars(select(Follow).where(Follow.user_id == user_id)))
        if not mine:
            return {}
    rows = session.execute(
        select(Paper.id, Paper.author_names, Paper.categories).where(
            Paper.id.in_(paper_ids), Paper.hidden_at.is_(None)
        )
    ).all()
    # One reader's match keys only the kinds they follow (a month holds thousands of names).
    kinds = {f.kind for f in mine} if mine is not None else {"author", "category", "org"}
    wanted: dict[tuple[str, str], set[int]] = defaultdict(set)
    for paper_id, names, categories in rows:
        if "author" in kinds:
            for name in names or ():
                wanted["author", cached_author_key(name)].add(paper_id)
        if "category" in kinds:
            for category in categories or ():
                wanted["category", category].add(paper_id)
                wanted["category", category.split(".", 1)[0]].add(paper_id)  # an archive: cs
    live = [paper_id for paper_id, _, _ in rows]
    if "org" in kinds:
        orgs = session.execute(
            select(DailyEntry.paper_id, Org.name)
            .join(Org, Org.id == DailyEntry.organization_id)
            .where(DailyEntry.paper_id.in_(live))
        ).all()
        for paper_id, name in orgs:
            wanted["org", name].add(paper_id)
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, target in wanted:
        by_kind[kind].add(target)
    follows: list[Follow] = []
    if mine is not None:
        follows = [f for f in mine if f.kind != "search" and f.target in by_kind[f.kind]]
        searches = [f for f in mine if f.kind == "search"]
    else:
        for kind, targets in by_kind.items():
            follows += session.scalars(
                select(Follow).where(Follow.kind == kind, Follow.target.in_(targets))
            ).all()
        searches = list(session.scalars(select(Follow).where(Follow.kind == "search")))
    if searches and live:
        among = Paper.id.in_(live)
        for query in {row.target for row in searches}:
            ids = set(session.scalars(lexical.matching(session, query, among)))
            wanted["search", query] = ids
        follows += searches
    for row in sorted(follows, key=lambda f: (f.user_id, f.created_at, f.id)):
        for paper_id in wanted.get((row.kind, row.target), ()):
            match = found[row.user_id][paper_id]
            match.reasons.append(reason(row.kind, row.label))
            match.channels.update(row.channels)
    return {user: dict(papers) for user, papers in found.items()}
