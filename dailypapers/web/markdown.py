"""A paper as Markdown (``GET /papers/{id}.md``), as ``huggingface_hub.read_paper`` expects."""

from __future__ import annotations

from dailypapers.arxiv_ids import abs_url, pdf_url
from dailypapers.models import Paper


def paper_markdown(paper: Paper, base_url: str) -> str:
    lines = [f"# {paper.title}", ""]
    if paper.author_names:
        lines += [f"**Authors:** {', '.join(paper.author_names)}", ""]
    facts = [f"arXiv: [{paper.arxiv_id}]({abs_url(paper.arxiv_id)})", f"Upvotes: {paper.upvotes}"]
    if paper.daily_entry is not None:
        facts.append(f"Daily Papers: {paper.daily_entry.feed_date.isoformat()}")
    if paper.published_at is not None:
        facts.append(f"Published: {paper.published_at.date().isoformat()}")
    lines += [" · ".join(facts), ""]
    if paper.ai_summary:
        lines += ["## AI summary", "", paper.ai_summary, ""]
    lines += ["## Abstract", "", paper.abstract or "_No abstract is known._", ""]
    links = [f"- PDF: {pdf_url(paper.arxiv_id)}", f"- Page: {base_url}/papers/{paper.arxiv_id}"]
    if paper.github_repo:
        links.append(f"- Code: {paper.github_repo}")
    if paper.project_page:
        links.append(f"- Project page: {paper.project_page}")
    lines += ["## Links", "", *links, ""]
    return "\n".join(lines)
