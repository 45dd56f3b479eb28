"""Search and related papers in the JSON API: ``/api/papers/search`` (Hugging Face's endpoint,
which ``huggingface_hub``'s ``list_papers`` reads) and ``/api/papers/{id}/related`` (ours).

Both answer with the items of ``/api/daily_papers`` (``{"paper": {...}, "publishedAt", "title",
…}``), best first. Included before ``api.router``, whose ``/papers/{id:path}`` would take these
paths as paper ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import Session

from dailypapers.community import comment_counts
from dailypapers.models import Paper
from dailypapers.schemas import DailyPaperOut, daily_paper_out, paper_out
from dailypapers.search import hybrid
from dailypapers.search.query import QueryError
from dailypapers.web.api import MAX_LIMIT
from dailypapers.web.deps import ReadSessionDep, SettingsDep, paper_or_404
from dailypapers.web.openapi import api
from dailypapers.web.search import MAX_INPUT_CHARS, papers_in_order, related_to

router = APIRouter(prefix="/api", tags=["api"])
MAX_RELATED = 50


def paper_item_out(paper: Paper, num_comments: int = 0) -> DailyPaperOut:
    """A paper as a daily item. A paper never put on the list (an arXiv-only paper) has no
    feed time; its top-level ``publishedAt`` is then the arXiv time (else when it was stored),
    as a client needs some time there."""
    if paper.daily_entry is not None:
        return daily_paper_out(paper.daily_entry, num_comments)
    out = paper_out(paper, None)
    return DailyPaperOut(
        paper=out,
        publishedAt=paper.published_at or paper.created_at,
        title=out.title,
        summary=out.summary,
        numComments=num_comments,
        ai_summary=out.ai_summary,
        ai_keywords=out.ai_keywords,
        githubRepo=out.githubRepo,
        githubStars=out.githubStars,
        projectPage=out.projectPage,
    )


def items_in_order(session: Session, paper_ids: Sequence[int]) -> list[DailyPaperOut]:
    papers = papers_in_order(session, paper_ids)
    counts = comment_counts(session, [paper.id for paper in papers])
    return [paper_item_out(paper, counts.get(paper.id, 0)) for paper in papers]


@router.get(
    "/papers/search",
    response_model=list[DailyPaperOut],
    response_model_exclude_none=True,
    responses=api(400),
    summary="Search papers (words, phrases, filters, meaning)",
)
def search_papers(
    session: ReadSessionDep,
    settings: SettingsDep,
    q: Annotated[
        str,
        Query(max_length=MAX_INPUT_CHARS, description="query, same syntax as the search page"),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> list[DailyPaperOut]:
    """Best first, at most ``limit``; an empty query returns ``[]``; a malformed filter
    (``from:2026-13``) is a 400 whose ``error`` says what was expected."""
    if not q.strip():
        return []
    try:
        results = hybrid.search(session, settings, q, limit=limit)
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from None
    return items_in_order(session, [hit.paper_id for hit in results.hits])


@router.get(
    "/papers/{paper_id:path}/related",
    response_model=list[DailyPaperOut],
    response_model_exclude_none=True,
    responses=api(400, 404),
    summary="Papers related to one paper (nearest by meaning)",
)
def related(
    paper_id: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_RELATED)] = 8,
) -> list[DailyPaperOut]:
    """Nearest neighbours of the paper's embedding, itself excluded; papers sharing its title's
    words while it has no vector (or the site no model)."""
    paper = paper_or_404(session, paper_id)
    papers = related_to(session, settings, paper, limit)
    counts = comment_counts(session, [p.id for p in papers])
    return [paper_item_out(p, counts.get(p.id, 0)) for p in papers]
