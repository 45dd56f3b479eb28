"""Follows: authors, organizations, arXiv categories and saved searches a user follows, and
which stored papers match them, with the reason people read (docs/follows.md).

``service`` adds, lists and removes follows (it takes a session and never commits);
``matching`` finds the papers that match follows; ``alerts`` records the matches once per user
× paper and hands them to each channel once."""

from __future__ import annotations

from dailypapers.follows.service import (
    KINDS,
    MAX_FOLLOWS_PER_USER,
    FollowError,
    follow,
    followed_targets,
    list_follows,
    normalize_target,
    set_channels,
    unfollow,
)

__all__ = [
    "KINDS",
    "MAX_FOLLOWS_PER_USER",
    "FollowError",
    "follow",
    "followed_targets",
    "list_follows",
    "normalize_target",
    "set_channels",
    "unfollow",
]
