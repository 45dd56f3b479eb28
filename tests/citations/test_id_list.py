"""A list of ids and paper URLs, one a line."""

from __future__ import annotations

import pytest

from dailypapers.citations import CitationFileError, parse_id_list


def test_ids_urls_comments_and_bad_lines() -> None:
    text = (
        "# papers to read\n"
        "2401.00001v2\n"
        "\n"
        "https://arxiv.org/abs/hep-th/9901001  # classic\n"
        "https://huggingface.co/papers/2402.12345\n"
        "arXiv:1706.03762\n"
        "not an id\n"
        "https://example.com/paper\n"
    )
    parsed = parse_id_list(text)
    assert [(e.index, e.line, e.arxiv_id, e.url) for e in parsed.entries] == [
        (1, 2, "2401.00001", None),
        (2, 4, "hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001"),
        (3, 5, "2402.12345", "https://huggingface.co/papers/2402.12345"),
        (4, 6, "1706.03762", None),
    ]
    assert [(e.index, e.line) for e in parsed.errors] == [(5, 7), (6, 8)]
    assert parsed.errors[0].reason.startswith("'not an id' is not an arXiv id such as")


def test_more_lines_than_the_limit_are_refused() -> None:
    with pytest.raises(CitationFileError, match="more than 20,000"):
        parse_id_list("2401.00001\n" * 20_001)
