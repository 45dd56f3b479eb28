"""SQLAlchemy models of the tables (DESIGN.md §3), one module per domain. Times are UTC.

Every model is imported here, so ``Base.metadata`` holds all tables and relationships given by
name resolve whichever module a caller imports.
"""

from __future__ import annotations

from dailypapers.models.accounts import ApiToken, Org, OrgMember, User, UserSession
from dailypapers.models.authors import AuthorClaim
from dailypapers.models.base import Base, UTCDateTime, utcnow
from dailypapers.models.community import Comment, ModerationAction, Vote
from dailypapers.models.digests import DigestReceived, DigestSend, DigestTopicMatch, Subscription
from dailypapers.models.follows import (
    AlertCursor,
    AlertDelivery,
    AlertFeedToken,
    AlertMatch,
    Follow,
)
from dailypapers.models.library import (
    Collection,
    CollectionPaper,
    LibraryImport,
    Note,
    PaperMark,
    Save,
)
from dailypapers.models.operations import IngestCheckpoint, Job, RateLimitCounter
from dailypapers.models.papers import (
    Author,
    DailyEntry,
    Embedding,
    Paper,
    PaperAuthor,
    PaperVersion,
)
from dailypapers.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "AlertCursor",
    "AlertDelivery",
    "AlertFeedToken",
    "AlertMatch",
    "ApiToken",
    "Author",
    "AuthorClaim",
    "Base",
    "Collection",
    "CollectionPaper",
    "Comment",
    "DailyEntry",
    "DigestReceived",
    "DigestSend",
    "DigestTopicMatch",
    "Embedding",
    "Follow",
    "IngestCheckpoint",
    "Job",
    "LibraryImport",
    "ModerationAction",
    "Note",
    "Org",
    "OrgMember",
    "Paper",
    "PaperAuthor",
    "PaperMark",
    "PaperVersion",
    "RateLimitCounter",
    "Save",
    "Subscription",
    "UTCDateTime",
    "User",
    "UserSession",
    "Vote",
    "Webhook",
    "WebhookDelivery",
    "utcnow",
]
