"""The arXiv API (``/api/query``, Atom 1.0): search queries and id lists, page by page.

Entries are reshaped into the snapshot schema. The API gives the first (``published``) and the
latest (``updated``) version dates and the latest version number in the entry id; intermediate
versions are unknown. A bad id comes back as an entry titled "Error" with an ``api/errors`` id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.ingest.http import PoliteClient
from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import ArxivRaw, SourceFormatError, bytes_hash

ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ARXIV = "{http://arxiv.org/schemas/atom}"
ERROR_ID_PREFIX = "http://arxiv.org/api/errors"
EMPTY_PAGE_RETRIES = 3
# Hardened parser: no network, no entity expansion from untrusted responses.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True, slots=True)
class ApiPage:
    start: int
    total_results: int
    items: list[ArxivRaw | SourceError]


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def entry_to_record(entry: etree._Element, position: str) -> ArxivRaw | SourceError:
    entry_id = _text(entry, f"{ATOM}id") or ""
    if entry_id.startswith(ERROR_ID_PREFIX):
        return SourceError(position, f"arXiv API error: {_text(entry, f'{ATOM}summary')}")
    try:
        parsed = parse_arxiv_id(entry_id)
    except ArxivIdError as exc:
        return SourceError(position, f"entry id: {exc}")
    published = _text(entry, f"{ATOM}published")
    updated = _text(entry, f"{ATOM}updated")
    versions = [{"version": "v1", "created": published}] if published else []
    if parsed.version and parsed.version > 1 and updated:
        versions.append({"version": f"v{parsed.version}", "created": updated})
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [primary.get("term")] if primary is not None else []
    categories += [
        term
        for term in (c.get("term") for c in entry.findall(f"{ATOM}category"))
        if term and term not in categories
    ]
    data = {
        "id": parsed.versioned,
        "title": _text(entry, f"{ATOM}title"),
        "abstract": _text(entry, f"{ATOM}summary"),
        "authors_list": [
            name for a in entry.findall(f"{ATOM}author") if (name := _text(a, f"{ATOM}name"))
        ],
        "categories": " ".join(c for c in categories if c),
        "comments": _text(entry, f"{ARXIV}comment"),
        "journal-ref": _text(entry, f"{ARXIV}journal_ref"),
        "doi": _text(entry, f"{ARXIV}doi"),
        "versions": versions,
        "update_date": updated[:10] if updated else None,
    }
    return ArxivRaw(position, data, bytes_hash(etree.tostring(entry)))


def parse_api_page(content: bytes, start: int) -> ApiPage:
    try:
        root = etree.fromstring(content, PARSER)
    except etree.XMLSyntaxError as exc:
        raise SourceFormatError(f"arXiv API page start={start}: malformed XML ({exc})") from None
    if root.tag != f"{ATOM}feed":
        raise SourceFormatError(f"arXiv API page start={start}: expected an Atom feed")
    total = int(_text(root, f"{OPENSEARCH}totalResults") or 0)
    items = [
        entry_to_record(entry, f"page start={start}, entry {index}")
        for index, entry in enumerate(root.findall(f"{ATOM}entry"), start=1)
    ]
    return ApiPage(start, total, items)


def fetch_api_pages(
    client: PoliteClient,
    url: str,
    *,
    search_query: str | None = None,
    id_list: list[str] | None = None,
    page_size: int = 100,
    start: int = 0,
) -> Iterator[ApiPage]:
    """Yield pages from ``start`` until the results run out (or an empty page arrives)."""
    if not search_query and not id_list:
        raise ValueError("give a search query or a list of ids")
    empty_pages = 0
    while True:
        params: dict[str, str | int] = {"start": start, "max_results": page_size}
        if search_query:
            params["search_query"] = search_query
        if id_list:
            params["id_list"] = ",".join(id_list)
        response = client.get(url, params=params)
        if response.status_code != 200:
            raise SourceFormatError(
                f"arXiv API answered HTTP {response.status_code} at start={start}"
            )
        page = parse_api_page(response.content, start)
        if not page.items and start < page.total_results:
            # The API now and then answers an empty page in the middle of a result: ask again,
            # and fail (keeping the checkpoint) rather than end the query early as a success.
            empty_pages += 1
            if empty_pages > EMPTY_PAGE_RETRIES:
                raise SourceFormatError(
                    f"arXiv API gave empty pages at start={start} of {page.total_results} results"
                )
            continue
        empty_pages = 0
        yield page
        start += len(page.items)
        if not page.items or start >= page.total_results:
            return
