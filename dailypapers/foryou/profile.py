"""A user's interest as the site knows it: the papers they saved (imports land as saves) or
upvoted, minus the ones they dismissed, and a version that changes whenever any of that does
(the key the trained model is cached under)."""

from __future__ import annotations

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
    saved = session.execute(
        select(Save.paper_id, Save.saved_at).where(Save.user_id == user_id)
    ).all()
    voted = session.execute(
        select(Vote.paper_id, Vote.created_at).where(Vote.user_id == user_id)
    ).all()
    dismissed = frozenset(
        session.scalars(
            select(PaperMark.paper_id).where(
                PaperMark.user_id == user_id, PaperMark.dismissed_at.is_not(None)
            )
        )
    )
    dated: dict[int, tuple[object, str]] = {}
    for paper_id, at in voted:
        dated[paper_id] = (at, "upvoted")
    for paper_id, at in saved:  # a saved paper is named as saved, the stronger signal
        dated[paper_id] = (at, "saved")
    ordered = sorted(
        ((pid, at, how) for pid, (at, how) in dated.items() if pid not in dismissed),
        key=lambda row: (str(row[1]), row[0]),
        reverse=True,
    )[:MAX_POSITIVES]
    positives = {pid: how for pid, _, how in ordered}
    digest = xxhash.xxh3_64()
    for pid in sorted(positives):
        digest.update(f"{pid},".encode())
    digest.update(b"|")
    for pid in sorted(dismissed):
        digest.update(f"{pid},".encode())
    return Profile(positives, dismissed, digest.hexdigest())
