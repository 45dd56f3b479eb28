"""Properties of record normalization (``dailypapers/ingest/normalize.py``): whatever a source
sends, a record comes out clean or the record is refused with a ``RecordError`` naming why."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dailypapers.ingest.normalize import (
    MAX_AUTHOR_NAME,
    MAX_COUNT,
    ArxivRecord,
    DailyPaperRecord,
    normalize_arxiv,
    normalize_hf_daily,
    parse_timestamp,
)
from dailypapers.ingest.text import RecordError

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["a\x00b", "\u202eevil", "x\ud800", "  ", "cs.LG\x00", "9" * 5000]),
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    HOSTILE_TEXT,
)
JSON = st.recursive(
    SCALAR,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["name", "user", "hidden", "version", "created"]), children
        ),
    ),
    max_leaves=12,
)
ARXIV_ID = st.sampled_from(["2401.00001", "2401.00001v2", "hep-th/9901001", "nonsense", ""])
DATE_TEXT = st.sampled_from(
    [
        "2026-02-27",
        "2026-02-27T09:00:00Z",
        "Wed, 17 Jun 2026 00:00:00 GMT",
        "9999-12-31T23:59:59-12:00",
    ]
)


def _assert_clean(*texts: str) -> None:
    for text in texts:
        assert not CONTROL.search(text), repr(text)
        assert text == text.strip()


def _check_daily(record: DailyPaperRecord) -> None:
    _assert_clean(record.title, record.abstract, *record.authors, *record.categories)
    assert record.title
    assert 0 <= record.upvotes <= MAX_COUNT
    assert all(0 < len(name) <= MAX_AUTHOR_NAME for name in record.authors)
    assert record.submitted_at.tzinfo is not None


def _check_arxiv(record: ArxivRecord) -> None:
    _assert_clean(record.title, record.abstract, *record.authors, *record.categories)
    assert record.title
    assert all(0 < len(name) <= MAX_AUTHOR_NAME for name in record.authors)
    for moment in (record.published_at, record.revised_at):
        assert moment is None or moment.utcoffset() == dt.timedelta(0)


@PROPERTY
@given(
    st.fixed_dictionaries(
        {"arxiv_id": st.one_of(ARXIV_ID, JSON), "title": st.one_of(HOSTILE_TEXT, JSON)},
        optional={
            "daily_date": st.one_of(DATE_TEXT, JSON),
            "abstract": JSON,
            "authors": JSON,
            "categories": JSON,
            "published_at": st.one_of(DATE_TEXT, JSON),
            "submitted_at": st.one_of(DATE_TEXT, JSON),
            "upvotes": JSON,
            "github_repo": JSON,
            "github_stars": JSON,
            "ai_keywords": JSON,
        },
    )
)
@example(
    {"arxiv_id": "2401.00001", "title": "T", "daily_date": "2026-02-27", "categories": ["a\x00b"]}
)
def test_a_daily_crawl_record_is_clean_or_refused(data: dict[str, Any]) -> None:
    try:
        record = normalize_hf_daily(data)
    except RecordError:
        return
    _check_daily(record)


@PROPERTY
@given(
    st.fixed_dictionaries(
        {
            "paper": st.fixed_dictionaries(
                {"id": ARXIV_ID, "title": HOSTILE_TEXT},
                optional={
                    "authors": JSON,
                    "categories": JSON,
                    "upvotes": JSON,
                    "submittedOnDailyAt": st.one_of(DATE_TEXT, JSON),
                    "organization": JSON,
                },
            )
        },
        optional={"publishedAt": st.one_of(DATE_TEXT, JSON), "submittedBy": JSON},
    )
)
def test_a_daily_api_item_is_clean_or_refused(data: dict[str, Any]) -> None:
    try:
        record = normalize_hf_daily(data)
    except RecordError:
        return
    _check_daily(record)
    if record.submitter is not None:
        _assert_clean(record.submitter.username, record.submitter.fullname)


@PROPERTY
@given(
    st.fixed_dictionaries(
        {"id": st.one_of(ARXIV_ID, JSON), "title": st.one_of(HOSTILE_TEXT, JSON)},
        optional={
            "abstract": JSON,
            "authors": JSON,
            "authors_parsed": JSON,
            "categories": JSON,
            "versions": JSON,
            "update_date": st.one_of(DATE_TEXT, JSON),
            "listing_date": st.one_of(DATE_TEXT, JSON),
            "comments": JSON,
            "doi": JSON,
        },
    )
)
@example({"id": "2401.00001", "title": "T", "authors_parsed": [["Lee\x00", "Ada\u202e", ""]]})
@example({"id": "2401.00001", "title": "T", "authors_parsed": [["L" * 400, "A", ""]]})
@example({"id": "2401.00001", "title": "T", "categories": "cs.LG \x00x"})
def test_an_arxiv_record_is_clean_or_refused(data: dict[str, Any]) -> None:
    try:
        record = normalize_arxiv(data)
    except RecordError:
        return
    _check_arxiv(record)


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00", "not a time", 7, ["x"]]
)
def test_times_out_of_range_or_malformed_are_refused_by_name(value: object) -> None:
    with pytest.raises(RecordError, match="published_at"):
        parse_timestamp(value, "published_at")


def test_categories_keep_their_order_once_each() -> None:
    record = normalize_arxiv(
        {"id": "2401.00001", "title": "T", "categories": "cs.LG stat.ML cs.LG"}
    )
    assert record.categories == ("cs.LG", "stat.ML")
