"""Alerts: papers that match a user's follows, delivered once per channel however many follows
each matches (mail joined into the digest, private and public feeds, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Channel = Literal["email", "feed", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "feed", "webhook")


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One paper for one user, with every reason it matched (one per follow, already worded
    for people: "by Yann LeCun, whom you follow", "matches your search “diffusion”")."""

    paper_id: int
    reasons: tuple[str, ...]
