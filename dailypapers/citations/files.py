"""An uploaded file to entries: size limit, decoding, format detection, then the format's parser."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from pathlib import PurePath

from .bibtex import parse_bibtex
from .csl_json import parse_csl_json
from .entries import MAX_IMPORT_BYTES, CitationFileError, CitationFormat, ParsedFile
from .id_list import parse_id_list
from .ris import parse_ris

PARSERS: dict[CitationFormat, Callable[[str], ParsedFile]] = {
    "bibtex": parse_bibtex,
    "csl_json": parse_csl_json,
    "ris": parse_ris,
    "ids": parse_id_list,
}
_EXTENSIONS: dict[str, CitationFormat] = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".json": "csl_json",
    ".csljson": "csl_json",
    ".ris": "ris",
}
# Files people upload by mistake, by their first bytes: refused whole, never read as text.
_BINARY_MAGIC = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive (or a Word/Excel file)",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ\x00": "an xz archive",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"%PDF-": "a PDF",
    b"\x89PNG": "an image",
    b"\xff\xd8\xff": "an image",
    b"SQLite format 3\x00": "a database file",
}
_BIBTEX_ENTRY = re.compile(r"^[ \t]*@[ \t]*\w+[ \t]*[{(]", re.M)
_RIS_START = re.compile(r"^TY  -", re.M)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with; never raises.

    UTF-8 (with or without BOM) and BOM-marked UTF-16 first; a file that is not UTF-8 is read
    as Windows-1252, then Latin-1 (which maps every byte), so an old export still imports with
    its accents. NUL bytes are removed: they are never valid in a citation.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        attempts = ["utf-16"]
    else:
        attempts = ["utf-8-sig", "cp1252"]
    for encoding in attempts:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text.replace("\x00", ""), "utf-8" if encoding == "utf-8-sig" else encoding
    return data.decode("latin-1").replace("\x00", ""), "latin-1"


def _refuse_binary(data: bytes) -> None:
    what = next((name for magic, name in _BINARY_MAGIC.items() if data.startswith(magic)), None)
    head = data[:4096]
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if what is None and not utf16 and head.count(0) > len(head) // 10:
        what = "a binary file"
    if what is not None:
        raise CitationFileError(
            f"the file is {what}, not a reference list: upload the .bib, .ris, CSL JSON or "
            "text file itself (unpacked)"
        )


def detect_format(text: str, filename: str | None = None) -> CitationFormat:
    """The format named by the file's extension, else the one its content looks like."""
    if filename:
        by_extension = _EXTENSIONS.get(PurePath(filename).suffix.lower())
        if by_extension is not None:
            return by_extension
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith(("[", "{")):
        return "csl_json"
    if head.startswith("TY  -") or _RIS_START.search(text[:100_000]):
        return "ris"
    if head.startswith(("@", "%")) or _BIBTEX_ENTRY.search(text[:100_000]):
        return "bibtex"
    return "ids"


def parse_file(data: bytes, filename: str | None = None) -> ParsedFile:
    """Read an uploaded citation file of any accepted format.

    :param filename: the name the user's file had; only its extension is used.
    :raises CitationFileError: over ``MAX_IMPORT_BYTES`` or ``MAX_IMPORT_ENTRIES``, or a CSL JSON
        file that is not a JSON array; every other problem is an entry of ``errors``.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise CitationFileError(
            f"the file is over {MAX_IMPORT_BYTES // 1024 // 1024} MiB; files up to "
            f"{MAX_IMPORT_BYTES // 1024 // 1024} MiB can be imported (split it into smaller files)"
        )
    _refuse_binary(data)
    text, encoding = decode(data)
    format_ = detect_format(text, filename)
    parsed = PARSERS[format_](text)
    return ParsedFile(format_, parsed.entries, parsed.errors, encoding)
