"""An uploaded file: size limit, encodings, NUL bytes and format detection."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dailypapers.citations import (
    MAX_IMPORT_BYTES,
    CitationFileError,
    detect_format,
    parse_file,
)

DATA = Path(__file__).parent.parent / "data" / "citations"
BIB = "@misc{k, title={Café “quoted”}, author={Müller, Jörg}, eprint={2101.00001}}\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("arxiv_export.bib", "bibtex"),
        ("google_scholar.bib", "bibtex"),
        ("zotero.json", "csl_json"),
        ("zotero.ris", "ris"),
    ],
)
def test_fixture_files_by_extension_and_by_content(name: str, expected: str) -> None:
    data = (DATA / name).read_bytes()
    by_name = parse_file(data, name)
    by_content = parse_file(data, None)
    assert by_name.format == by_content.format == expected
    assert by_name.entries == by_content.entries
    assert by_name.errors == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  \n[{}]", "csl_json"),
        ("% a comment\n@article{x, title={t}}", "bibtex"),
        ("Some header\n\n@misc{x, title={t}}", "bibtex"),
        ("\ufeffTY  - GEN\nER  - \n", "ris"),
        ("2401.00001\n", "ids"),
        ("", "ids"),
    ],
)
def test_detection_from_content(text: str, expected: str) -> None:
    assert detect_format(text, "upload.txt") == expected


def test_utf8_with_bom() -> None:
    parsed = parse_file(codecs.BOM_UTF8 + BIB.encode(), "x.bib")
    assert parsed.encoding == "utf-8"
    assert parsed.entries[0].title == "Café “quoted”"


def test_windows_1252_and_latin1_files_decode_without_a_crash() -> None:
    cp1252 = parse_file(BIB.encode("cp1252"), "x.bib")
    assert cp1252.encoding == "cp1252"
    assert cp1252.entries[0].title == "Café “quoted”"
    assert cp1252.entries[0].authors == ("Jörg Müller",)
    # 0x81 is undefined in Windows-1252: Latin-1 reads every byte.
    latin1 = parse_file(b"@misc{k, title={Caf\xe9 \x81}, eprint={2101.00001}}", "x.bib")
    assert latin1.encoding == "latin-1"
    assert latin1.entries[0].title == "Café \x81"


def test_utf16_with_bom() -> None:
    parsed = parse_file(BIB.encode("utf-16"), "x.bib")
    assert parsed.encoding == "utf-16"
    assert parsed.entries[0].arxiv_id == "2101.00001"


def test_nul_bytes_are_removed() -> None:
    parsed = parse_file(b"TY  - GEN\nTI  - A\x00B\nER  - \n\x00", "x.ris")
    assert [entry.title for entry in parsed.entries] == ["AB"]
    csl = parse_file(b'[{"title": "C\\u0000D", "note": "\\u0000"}]', "x.json")
    assert (csl.entries[0].title, csl.entries[0].note) == ("CD", None)


def test_csl_json_object_is_refused_through_parse_file() -> None:
    with pytest.raises(CitationFileError, match="expected a CSL JSON array"):
        parse_file(b'{"items": []}', "export.json")


def test_file_over_the_size_limit_is_refused() -> None:
    data = b"%" * (MAX_IMPORT_BYTES + 1)
    # It said "the file is 10.0 MiB; files up to 10 MiB…" for a file a few bytes over (and for
    # any larger upload, which the web reads only to the limit and one byte).
    with pytest.raises(CitationFileError, match=r"^the file is over 10 MiB; files up to 10 MiB"):
        parse_file(data, "big.bib")


_NAMES = st.sampled_from([None, "x.bib", "x.ris", "x.json", "x.txt"])
# Pieces of each format, shuffled into files that are almost right.
_PIECES = st.sampled_from(
    [
        "@misc{",
        "@article{k,",
        "title={",
        'author = "',
        "}",
        "{",
        '"',
        ",",
        "=",
        "#",
        "@string{",
        "TY  - GEN",
        "ER  - ",
        "TI  - ",
        "AU  - ",
        "UR  - https://arxiv.org/abs/",
        "\n",
        "\r\n",
        "[",
        "]",
        '{"title": ',
        '"x"',
        "null",
        "2401.00001",
        "\\",
        '\\"{u}',
        "$",
        "%",
        "\x00",
        "\ufeff",
        "é",
        "10.48550/arXiv.2401.00001",
        "eprint={",
        "year={",
        "99999999999999",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=500),
        st.lists(_PIECES, max_size=40).map(lambda pieces: "".join(pieces).encode("utf-8")),
    ),
    _NAMES,
)
def test_any_bytes_give_entries_or_a_file_error(data: bytes, name: str | None) -> None:
    try:
        parsed = parse_file(data, name)
    except CitationFileError:
        return
    positions = [entry.index for entry in parsed.entries] + [e.index for e in parsed.errors]
    assert sorted(positions) == list(range(1, len(positions) + 1))
    for entry in parsed.entries:
        assert entry.title or entry.arxiv_id
        for value in (entry.title, entry.note, entry.url, entry.doi, *entry.authors):
            assert value is None or "\x00" not in value


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (gzip.compress(b"@misc{a, title={T}}", mtime=0), "a gzip archive"),
        (b"PK\x03\x04" + bytes(200), "a zip archive"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "a PDF"),
        (b"\x00\x01\x02\x03" * 300, "a binary file"),
    ],
)
def test_archives_and_binary_files_are_refused_with_what_they_are(data: bytes, named: str) -> None:
    with pytest.raises(CitationFileError, match=named):
        parse_file(data, "refs.bib")


def test_text_with_a_stray_nul_is_still_read() -> None:
    parsed = parse_file(b"@misc{a, title={One \x00 title}, eprint={2602.08222}}")
    assert [e.arxiv_id for e in parsed.entries] == ["2602.08222"]
