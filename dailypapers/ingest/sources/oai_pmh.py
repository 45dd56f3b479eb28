"""arXiv's OAI-PMH 2.0 endpoint: ``ListRecords`` in the ``arXiv`` or ``arXivRaw`` format.

Pages are chained by resumption tokens; an empty token ends the list. ``noRecordsMatch`` is an
empty harvest, not a failure. ``badResumptionToken`` (tokens expire) raises
``BadResumptionTokenError`` so the caller restarts the date range, which is safe because loading is
idempotent. Deleted records are reported and skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from dailypapers.ingest.http import PoliteClient
from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import ArxivRaw, SourceFormatError, bytes_hash

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
ARXIV_RAW = "{http://arxiv.org/OAI/arXivRaw/}"
FORMATS = ("arXiv", "arXivRaw")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class BadResumptionTokenError(RuntimeError):
    """The endpoint no longer knows the token (they expire); restart the range."""


@dataclass(frozen=True, slots=True)
class OaiPage:
    items: list[ArxivRaw | SourceError]
    deleted: int
    resumption_token: str | None  # None: this was the last page


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def _arxiv_format(meta: etree._Element) -> dict[str, object]:
    authors = []
    for author in meta.iterfind(f"{ARXIV}authors/{ARXIV}author"):
        parts = (
            _text(author, f"{ARXIV}forenames"),
            _text(author, f"{ARXIV}keyname"),
            _text(author, f"{ARXIV}suffix"),
        )
        authors.append(" ".join(part for part in parts if part))
    created = _text(meta, f"{ARXIV}created")
    updated = _text(meta, f"{ARXIV}updated")
    return {
        "id": _text(meta, f"{ARXIV}id"),
        "title": _text(meta, f"{ARXIV}title"),
        "abstract": _text(meta, f"{ARXIV}abstract"),
        "authors_list": authors,
        "categories": _text(meta, f"{ARXIV}categories"),
        "comments": _text(meta, f"{ARXIV}comments"),
        "journal-ref": _text(meta, f"{ARXIV}journal-ref"),
        "doi": _text(meta, f"{ARXIV}doi"),
        "license": _text(meta, f"{ARXIV}license"),
        # This format gives the first and the last dates but not the version numbers: only a
        # paper never revised is known to be at v1.
        "versions": (
            [{"version": "v1", "created": f"{created}T00:00:00Z"}]
            if created and not updated
            else []
        ),
        "created": created,
        "update_date": updated or created,
    }


def _arxiv_raw_format(meta: etree._Element) -> dict[str, object]:
    return {
        "id": _text(meta, f"{ARXIV_RAW}id"),
        "submitter": _text(meta, f"{ARXIV_RAW}submitter"),
        "title": _text(meta, f"{ARXIV_RAW}title"),
        "abstract": _text(meta, f"{ARXIV_RAW}abstract"),
        "authors": _text(meta, f"{ARXIV_RAW}authors"),
        "categories": _text(meta, f"{ARXIV_RAW}categories"),
        "comments": _text(meta, f"{ARXIV_RAW}comments"),
        "journal-ref": _text(meta, f"{ARXIV_RAW}journal-ref"),
        "doi": _text(meta, f"{ARXIV_RAW}doi"),
        "license": _text(meta, f"{ARXIV_RAW}license"),
        "versions": [
            {"version": version.get("version"), "created": _text(version, f"{ARXIV_RAW}date")}
            for version in meta.iterfind(f"{ARXIV_RAW}version")
        ],
    }


def parse_oai_page(content: bytes, where: str) -> OaiPage:
    try:
        root = etree.fromstring(content, PARSER)
    except etree.XMLSyntaxError as exc:
        raise SourceFormatError(f"OAI-PMH {where}: malformed XML ({exc})") from None
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code")
        if code == "noRecordsMatch":
            return OaiPage([], 0, None)
        if code == "badResumptionToken":
            raise BadResumptionTokenError(
                f"OAI-PMH {where}: {error.text or 'bad resumption token'}"
            )
        raise SourceFormatError(f"OAI-PMH {where}: error {code}: {error.text}")
    records = root.find(f"{OAI}ListRecords")
    if records is None:
        raise SourceFormatError(f"OAI-PMH {where}: no ListRecords element")
    items: list[ArxivRaw | SourceError] = []
    deleted = 0
    for index, record in enumerate(records.iterfind(f"{OAI}record"), start=1):
        header = record.find(f"{OAI}header")
        position = f"{where}, record {index}"
        if header is not None and header.get("status") == "deleted":
            deleted += 1
            continue
        meta = record.find(f"{OAI}metadata")
        arxiv = meta.find(f"{ARXIV}arXiv") if meta is not None else None
        raw = meta.find(f"{ARXIV_RAW}arXivRaw") if meta is not None else None
        if arxiv is not None:
            items.append(
                ArxivRaw(position, _arxiv_format(arxiv), bytes_hash(etree.tostring(arxiv)))
            )
        elif raw is not None:
            items.append(
                ArxivRaw(position, _arxiv_raw_format(raw), bytes_hash(etree.tostring(raw)))
            )
        else:
            items.append(SourceError(position, "record has no arXiv or arXivRaw metadata"))
    token_element = records.find(f"{OAI}resumptionToken")
    token = (token_element.text or "").strip() if token_element is not None else ""
    return OaiPage(items, deleted, token or None)


def list_records(
    client: PoliteClient,
    url: str,
    *,
    set_spec: str | None,
    from_date: dt.date | None,
    until_date: dt.date | None,
    metadata_prefix: str = "arXiv",
    resumption_token: str | None = None,
) -> Iterator[OaiPage]:
    """Yield pages of a ListRecords harvest; start from ``resumption_token`` when given."""
    if metadata_prefix not in FORMATS:
        raise ValueError(f"metadata format must be one of {', '.join(FORMATS)}")
    token = resumption_token
    while True:
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
            where = f"token {token}"
        else:
            params = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
            if set_spec:
                params["set"] = set_spec
            if from_date:
                params["from"] = from_date.isoformat()
            if until_date:
                params["until"] = until_date.isoformat()
            where = "first page"
        response = client.get(url, params=params)
        if response.status_code != 200:
            raise SourceFormatError(f"OAI-PMH {where}: HTTP {response.status_code}")
        page = parse_oai_page(response.content, where)
        yield page
        if page.resumption_token is None:
            return
        token = page.resumption_token
