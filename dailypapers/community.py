"""Votes, comments and moderation (services: they take a session and never commit).

Votes are exact under concurrency: the vote row is inserted or deleted first (a unique
(user, paper) pair makes a second insert a no-op), and only a change moves the paper's counter,
with ``local_upvotes = local_upvotes ± 1`` in SQL, never a value computed in Python. The trending
score is recomputed from the counter the same UPDATE returns, inside the same transaction,
which writers enter one at a time (``BEGIN IMMEDIATE`` on SQLite, row locks on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import Table, case, delete, func, select, update
from sqlalchemy.orm import Session

from dailypapers import ranking
from dailypapers.bulk import insert_rows
from dailypapers.config import Settings
from dailypapers.models import Comment, DailyEntry, ModerationAction, Paper, User, Vote
from dailypapers.ranking import trending_score

MAX_COMMENT_CHARS = 10_000
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")
ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "hr", "li", "ol", "p", "pre",
    "strong", "ul",
}  # fmt: skip


class CommunityError(ValueError):
    """A refused action, with a message for the person who tried it."""


class MissingTargetError(CommunityError):
    """The row an action names does not exist (a 404, not a refusal)."""


@dataclass(frozen=True, slots=True)
class VoteResult:
    voted: bool  # the user's vote is there now
    upvotes: int  # the paper's shown count after the change


@dataclass(frozen=True, slots=True)
class VoteTarget:
    """What a vote needs to know of its paper, read before the write transaction starts."""

    paper_id: int
    submitted_at: dt.datetime | None  # on the Daily Papers list since; None: not on it


def vote_target(session: Session, arxiv_id: str) -> VoteTarget | None:
    """The visible paper with this id, in one small query."""
    row = session.execute(
        select(Paper.id, DailyEntry.submitted_at)
        .outerjoin(DailyEntry, DailyEntry.paper_id == Paper.id)
        .where(Paper.arxiv_id == arxiv_id, Paper.hidden_at.is_(None))
    ).first()
    return VoteTarget(row[0], row[1]) if row is not None else None


def _rescore(
    session: Session,
    settings: Settings,
    paper_id: int,
    upvotes: int,
    submitted_at: dt.datetime | None,
) -> None:
    if submitted_at is not None:
        score = trending_score(upvotes, submitted_at, settings.trending_window_hours)
        session.execute(update(Paper).where(Paper.id == paper_id).values(trending_score=score))


def set_vote(
    session: Session,
    settings: Settings,
    user: User,
    target: VoteTarget,
    *,
    on: bool,
    now: dt.datetime,
) -> VoteResult:
    """Upvote (``on``) or take the vote back; doing either twice changes nothing."""
    if on:
        changed = insert_rows(
            session.connection(),
            cast(Table, Vote.__table__),
            [{"user_id": user.id, "paper_id": target.paper_id, "created_at": now}],
            suffix="ON CONFLICT (user_id, paper_id) DO NOTHING",
            returning=("id",),
        )
        step = 1 if changed else 0
    else:
        result = session.execute(
            delete(Vote).where(Vote.user_id == user.id, Vote.paper_id == target.paper_id)
        )
        step = -1 if result.rowcount else 0  # type: ignore[attr-defined]
    if step == 0:
        upvotes = session.scalar(
            select(Paper.external_upvotes + Paper.local_upvotes).where(Paper.id == target.paper_id)
        )
        return VoteResult(on, int(upvotes or 0))
    # One statement moves the counter and the score together (SQLite: log10 is registered on
    # every connection, see db.py; PostgreSQL has it).
    shown = Paper.external_upvotes + Paper.local_upvotes + step
    values: dict[str, Any] = {"local_upvotes": Paper.local_upvotes + step}
    if target.submitted_at is not None:
        age_term = ranking.explain_trending(
            0, target.submitted_at, settings.trending_window_hours
        ).age_term
        values["trending_score"] = func.log10(case((shown > 1, shown), else_=1)) + age_term
    upvotes = session.execute(
        update(Paper)
        .where(Paper.id == target.paper_id)
        .values(values)
        .returning(Paper.external_upvotes + Paper.local_upvotes)
    ).scalar_one()
    return VoteResult(on, upvotes)


def recount_votes(session: Session, settings: Settings, paper_ids: Iterable[int]) -> None:
    """Set the counters of these papers from their vote rows (after an account is deleted)."""
    for paper_id in set(paper_ids):
        count = session.scalar(select(func.count()).where(Vote.paper_id == paper_id)) or 0
        upvotes = session.execute(
            update(Paper)
            .where(Paper.id == paper_id)
            .values(local_upvotes=count)
            .returning(Paper.external_upvotes + Paper.local_upvotes)
        ).scalar_one()
        submitted_at = session.scalar(
            select(DailyEntry.submitted_at).where(DailyEntry.paper_id == paper_id)
        )
        _rescore(session, settings, paper_id, upvotes, submitted_at)


def voted_papers(session: Session, user: User | None, paper_ids: Sequence[int]) -> set[int]:
    """Which of these papers the user has upvoted (one query for a whole page)."""
    if user is None or not paper_ids:
        return set()
    return set(
        session.scalars(
            select(Vote.paper_id).where(Vote.user_id == user.id, Vote.paper_id.in_(paper_ids))
        )
    )


def render_markdown(text: str) -> str:
    """Markdown to HTML, then sanitized by nh3: no raw HTML, scripts, styles or event handlers
    survive, links get ``rel="nofollow noopener"``."""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )


def _check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise CommunityError("Write something first.")
    if len(text) > MAX_COMMENT_CHARS:
        raise CommunityError(f"Keep comments under {MAX_COMMENT_CHARS:,} characters.")
    return text


def add_comment(
    session: Session,
    user: User,
    paper: Paper,
    body: str,
    *,
    parent_id: int | None = None,
    now: dt.datetime,
) -> Comment:
    text = _check_body(body)
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.paper_id != paper.id:
            raise CommunityError("The comment you replied to is not on this paper.")
    comment = Comment(
        paper_id=paper.id,
        user_id=user.id,
        parent_id=parent_id,
        body=text,
        body_html=render_markdown(text),
        created_at=now,
    )
    session.add(comment)
    session.flush()
    return comment


def _own_comment(session: Session, user: User, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        raise CommunityError("This comment does not exist.")
    if comment.user_id != user.id:
        raise CommunityError("You can only change your own comments.")
    return comment


def edit_comment(
    session: Session, user: User, comment_id: int, body: str, now: dt.datetime
) -> Comment:
    comment = _own_comment(session, user, comment_id)
    text = _check_body(body)
    comment.body, comment.body_html, comment.edited_at = text, render_markdown(text), now
    return comment


def delete_comment(session: Session, user: User, comment_id: int, now: dt.datetime) -> Comment:
    """The text goes; the row stays so replies keep their place in the thread."""
    comment = _own_comment(session, user, comment_id)
    comment.deleted_at, comment.body, comment.body_html = now, "", ""
    return comment


@dataclass(frozen=True, slots=True)
class ThreadItem:
    comment: Comment
    depth: int


def comment_thread(
    session: Session, paper_id: int, *, include_hidden: bool = False
) -> list[ThreadItem]:
    """The paper's comments in reading order (each reply under its parent), in one query."""
    statement = select(Comment).where(Comment.paper_id == paper_id).order_by(Comment.created_at)
    comments = list(session.scalars(statement))
    children: dict[int | None, list[Comment]] = {}
    for comment in comments:
        children.setdefault(comment.parent_id, []).append(comment)
    ordered: list[ThreadItem] = []

    def walk(parent: int | None, depth: int) -> None:
        for comment in children.get(parent, []):
            if comment.hidden_at is not None and not include_hidden:
                continue  # a hidden comment takes its replies with it
            ordered.append(ThreadItem(comment, min(depth, 6)))
            walk(comment.id, depth + 1)

    walk(None, 0)
    return ordered


def comment_counts(session: Session, paper_ids: Sequence[int]) -> dict[int, int]:
    """Visible comments per paper (``numComments`` in the API)."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(Comment.paper_id, func.count())
        .where(
            Comment.paper_id.in_(paper_ids),
            Comment.hidden_at.is_(None),
            Comment.deleted_at.is_(None),
        )
        .group_by(Comment.paper_id)
    ).all()
    return {paper_id: int(count) for paper_id, count in rows}


MODERATION_ACTIONS = {
    "hide_paper": ("paper", Paper),
    "show_paper": ("paper", Paper),
    "hide_comment": ("comment", Comment),
    "show_comment": ("comment", Comment),
    "ban_user": ("user", User),
    "unban_user": ("user", User),
}


def moderate(
    session: Session,
    moderator: User,
    action: str,
    target_id: int,
    reason: str,
    now: dt.datetime,
) -> ModerationAction:
    """Hide or show a paper or comment, ban or unban a user, and log who did it and why."""
    if action not in MODERATION_ACTIONS:
        raise CommunityError(f"Unknown action {action!r}.")
    reason = " ".join(reason.split())
    if not reason:
        raise CommunityError("Say why: the reason goes into the moderation log.")
    target_type, model = MODERATION_ACTIONS[action]
    target = session.get(model, target_id)
    if target is None:
        raise MissingTargetError(f"No {target_type} has id {target_id}.")
    stamp = now if action.split("_")[0] in ("hide", "ban") else None
    if isinstance(target, User):
        if target.role == "admin" or target.id == moderator.id:
            raise CommunityError("Admins and yourself cannot be banned.")
        target.banned_at = stamp
    elif isinstance(target, Paper | Comment):
        target.hidden_at = stamp
    entry = ModerationAction(
        moderator_id=moderator.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason[:2000],
        created_at=now,
    )
    session.add(entry)
    return entry
