"""Search: the search page (``/search``), the related-papers block of each paper page, and
the JSON routes ``/api/papers/search`` (Hugging Face's endpoint, which ``huggingface_hub``'s
``list_papers`` reads) and ``/api/papers/{id}/related`` (ours).

The form's filter fields (author, category, from, to, has code) are not a second query language:
they are written into the query as the search box's own syntax (``author:"…" cat:… from:…
to:… has:code``) and searched as one string, so everything the fields do can be typed, shared as
a link, and used the same way by the API and the CLI. The page shows the combined query it ran.

Both JSON routes answer with the items of ``/api/daily_papers`` (``{"paper": {...}, "publishedAt",
"title", …}``), best first. Their ``api_router`` is included before ``api.router``, whose
``/papers/{id:path}`` would take these paths as paper ids.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.follows import followed_targets
from dailypapers.mail.render import one_line
from dailypapers.models import Paper
from dailypapers.papers import papers_in_order
from dailypapers.schemas import DailyPaperOut, items_in_order, paper_items
from dailypapers.search import hybrid
from dailypapers.search.lexical import snippets
from dailypapers.search.query import QueryError
from dailypapers.web.api import MAX_LIMIT
from dailypapers.web.cards import viewer_context
from dailypapers.web.deps import ReadSessionDep, SettingsDep, TemplatesDep, paper_or_404
from dailypapers.web.openapi import api, page
from dailypapers.web.security import session_user

log = logging.getLogger(__name__)
router = APIRouter()
api_router = APIRouter(prefix="/api", tags=["api"])

PAGE_SIZE = 20
RELATED_ON_PAGE = 6
MAX_RELATED = 50
# Longer input is refused with a 400 that says so (the parser keeps the first
# query.MAX_QUERY_CHARS characters of anything shorter).
MAX_INPUT_CHARS = 20_000
MAX_FIELD_CHARS = 200
_SPACES_OR_COMMAS = re.compile(r"[\s,]+")

# Shown under the form: the whole query syntax (dailypapers/search/query.py).
SYNTAX_HELP: tuple[tuple[str, str], ...] = (
    ("diffusion transformer", "papers with every word (close matches by meaning too)"),
    ('"world model"', "the words in this order"),
    ("-robotics", "leave out papers with this word"),
    ('author:"Yann LeCun"', "an author (several author: filters must all match)"),
    ("cat:cs.CL", "an arXiv category; cat:cs is any cs category"),
    ("org:google", "the organization that submitted the paper"),
    ("from:2026-02 to:2026-02-15", "published in this range (YYYY, YYYY-MM or YYYY-MM-DD)"),
    ("has:code", "papers with a code repository"),
    ("2602.08222", "an arXiv id or link: that paper first"),
)


@dataclass(frozen=True)
class SearchForm:
    """What the form sent: the query box and the optional filter fields."""

    q: str = ""
    author: str = ""
    cat: str = ""
    date_from: str = ""
    date_to: str = ""
    code: bool = False

    @property
    def has_filter_fields(self) -> bool:
        return bool(self.author or self.cat or self.date_from or self.date_to or self.code)

    def query(self) -> str:
        """The query box with the filter fields appended in the query syntax."""
        parts = [self.q.strip()] if self.q.strip() else []
        author = " ".join(self.author.replace('"', " ").split())
        if author:
            parts.append(f'author:"{author}"')
        categories = [c for c in _SPACES_OR_COMMAS.split(self.cat) if c]
        if categories:
            parts.append("cat:" + ",".join(categories))
        if date_from := "".join(self.date_from.split()):
            parts.append(f"from:{date_from}")
        if date_to := "".join(self.date_to.split()):
            parts.append(f"to:{date_to}")
        if self.code:
            parts.append("has:code")
        return " ".join(parts)

    def url(self, page: int = 1) -> str:
        """This search's address at ``page`` (empty fields left out)."""
        params: list[tuple[str, str | int]] = [
            (name, value)
            for name, value in (
                ("q", self.q),
                ("author", self.author),
                ("cat", self.cat),
                ("from", self.date_from),
                ("to", self.date_to),
                ("code", "1" if self.code else ""),
            )
            if value
        ]
        if page > 1:
            params.append(("page", page))
        return "/search?" + urlencode(params) if params else "/search"


def related_to(session: Session, settings: Settings, paper: Paper, limit: int) -> list[Paper]:
    """The paper's nearest neighbours (by meaning; by title words without vectors)."""
    return papers_in_order(session, hybrid.related_papers(session, settings, paper.id, limit=limit))


def related_for_page(session: Session, settings: Settings, paper: Paper) -> list[Paper]:
    """The paper page's related block. A failure here (say, a broken vector index) costs the
    block, not the page: the paper itself must always show."""
    try:
        return related_to(session, settings, paper, RELATED_ON_PAGE)
    except Exception:
        log.exception("related papers of %s failed", paper.arxiv_id)
        return []


@dataclass(frozen=True)
class ResultCard:
    paper: Paper
    hit: hybrid.SearchHit
    # Escaped text with <mark> around the matching words: safe to render as is.
    title_html: Markup
    abstract_html: Markup


@router.get("/search", response_class=HTMLResponse, responses=page(400), summary="Search papers")
def search_page(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    q: Annotated[str, Query(max_length=MAX_INPUT_CHARS)] = "",
    author: Annotated[str, Query(max_length=MAX_FIELD_CHARS)] = "",
    cat: Annotated[str, Query(max_length=MAX_FIELD_CHARS)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=MAX_FIELD_CHARS)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=MAX_FIELD_CHARS)] = "",
    code: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=10_000, description="1-based page number")] = 1,
) -> HTMLResponse:
    """An empty query shows the form and the syntax; a malformed filter is a 400 page with the
    message next to the form, still filled in."""
    form = SearchForm(q, author, cat, date_from, date_to, code.lower() in ("1", "on", "true"))
    query = form.query()
    context: dict[str, Any] = {
        "form": form,
        "query": query,
        "syntax_help": SYNTAX_HELP,
        "error": None,
        "results": None,
        "cards": [],
        "page": page,
        "page_count": 0,
        "page_size": PAGE_SIZE,
        "max_results": hybrid.MAX_RESULTS,
        "voted": set(),
        "signed_in": False,
    }
    if not query:
        return templates.TemplateResponse(request, "search.html", context)
    try:
        results = hybrid.search(
            session, settings, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except QueryError as exc:
        context["error"] = str(exc)
        return templates.TemplateResponse(request, "search.html", context, status_code=400)
    papers = papers_in_order(session, [hit.paper_id for hit in results.hits])
    hits = {hit.paper_id: hit for hit in results.hits}
    marked = snippets(session, [paper.id for paper in papers], results.parsed)
    cards = []
    for paper in papers:
        snippet = marked.get(paper.id)
        cards.append(
            ResultCard(
                paper=paper,
                hit=hits[paper.id],
                title_html=snippet.title_html if snippet else escape(paper.title),
                abstract_html=snippet.abstract_html if snippet else Markup(""),
            )
        )
    user = session_user(request, session)
    context.update(
        results=results,
        cards=cards,
        page_count=math.ceil(results.total / PAGE_SIZE),
        # One query for the follow button of the search itself (none on the cards).
        followed_search=followed_targets(session, user.id if user else None).get(
            ("search", one_line(query))
        ),
        **viewer_context(session, user, [paper.id for paper in papers]),
    )
    return templates.TemplateResponse(request, "search.html", context)


# JSON: /api/papers/search and /api/papers/{id}/related ---------------------------------------


@api_router.get(
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


@api_router.get(
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
    return paper_items(session, papers)
