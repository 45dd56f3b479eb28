"""A user's interest as the site knows it: the papers they saved (imports land as saves) or
upvoted, minus the ones they dismissed, and a version that changes whenever any of that does
(the key the trained model is cached under)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

import xxhash
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.models import PaperMark, Save, Vote

# The newest papers a model is trained on: far past what moves a linear model, and it bounds
# the training time of a 50,000-paper library.
MAX_POSITIVES = 2000


@dataclass(frozen=True)
class Profile:
    positives: dict[int, str]  # paper id -> "saved" | "upvoted", newest first
    dismissed: frozenset[int]
    version: str

    @property
    def empty(self) -> bool:
        return not self.positives


def load_profile(session: Session, user_id: int) -> Profile:
    """Three indexed queries, whatever the library size."""
    return load_profiles(session, [user_id])[user_id]


def load_profiles(
    session: Session, user_ids: Collection[int], *, limit: int = MAX_POSITIVES
) -> dict[int, Profile]:
    """Many users' profiles in three queries (a digest chunk); ``limit`` keeps each user's
    newest positives only."""
    users = list(dict.fromkeys(user_ids))
    saved: dict[int, list[tuple[int, object]]] = defaultdict(list)
    voted: dict[int, list[tuple[int, object]]] = defaultdict(list)
    dismissed: dict[int, set[int]] = defaultdict(set)
    for start in range(0, len(users), 500):
        chunk = users[start : start + 500]
        for user_id, paper_id, at in session.execute(
            select(Save.user_id, Save.paper_id, Save.saved_at).where(Save.user_id.in_(chunk))
        ):
            saved[user_id].append((paper_id, at))
        for user_id, paper_id, at in session.execute(
            select(Vote.user_id, Vote.paper_id, Vote.created_at).where(Vote.user_id.in_(chunk))
        ):
            voted[user_id].append((paper_id, at))
        for user_id, paper_id in session.execute(
            select(PaperMark.user_id, PaperMark.paper_id).where(
                PaperMark.user_id.in_(chunk), PaperMark.dismissed_at.is_not(None)
            )
        ):
            dismissed[user_id].add(paper_id)
    return {
        user_id: _profile(saved[user_id], voted[user_id], frozenset(dismissed[user_id]), limit)
        for user_id in users
    }


def _profile(
    saved: list[tuple[int, object]],
    voted: list[tuple[int, object]],
    dismissed: frozenset[int],
    limit: int,
) -> Profile:
    dated: dict[int, tuple[object, str]] = {}
    for paper_id, at in voted:
        dated[paper_id] = (at, "upvoted")
    for paper_id, at in saved:  # a saved paper is named as saved, the stronger signal
        dated[paper_id] = (at, "saved")
    ordered = sorted(
        ((pid, at, how) for pid, (at, how) in dated.items() if pid not in dismissed),
        key=lambda row: (str(row[1]), row[0]),
        reverse=True,
    )[:limit]
    positives = {pid: how for pid, _, how in ordered}
    digest = xxhash.xxh3_64()
    for pid in sorted(positives):
        digest.update(f"{pid},".encode())
    digest.update(b"|")
    for pid in sorted(dismissed):
        digest.update(f"{pid},".encode())
    return Profile(positives, dismissed, digest.hexdigest())
