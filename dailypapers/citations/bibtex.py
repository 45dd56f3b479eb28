"""BibTeX (``.bib``): read any file bibtexparser 2 can split; write arXiv's "Export BibTeX" form.

Reading keeps going past a broken entry: bibtexparser's splitter restarts at the next ``@``, so
an unclosed brace in the middle of a file costs that one entry (reported with its line), not the
entries after it. Two entries with the same key are both kept (Google Scholar copies often
repeat keys; the key means nothing to the library).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from bibtexparser.entrypoint import parse_string
from bibtexparser.exceptions import BlockAbortedException
from bibtexparser.middlewares.names import (
    parse_single_name_into_parts,
    split_multiple_persons_names,
)
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

from dailypapers.arxiv_ids import abs_url

from . import latex
from .entries import (
    CitationEntry,
    CitedPaper,
    ParsedFile,
    UnparseableEntry,
    check_entry_count,
)
from .fields import (
    arxiv_id_from,
    arxiv_id_from_doi,
    arxiv_id_in_reference,
    clean_doi,
    clean_note,
    clean_text,
    first_arxiv_id,
    split_display_name,
    year_from,
)

# The splitter logs a warning for every malformed entry of an upload; each is already an
# outcome the user sees, and a 20,000-entry file would flood the server log.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)

# Counted before parsing so a file of a million tiny entries is refused at once.
_ENTRY_START = re.compile(
    r"^[ \t]*@[ \t]*(?!(?:string|preamble|comment)\b)\w+[ \t]*[{(]", re.I | re.M
)
_URL_ESCAPE = re.compile(r"\\([_%&#~])")
_URL_MACRO = re.compile(r"^\\url\{(.*)\}$", re.S)


def parse_bibtex(text: str) -> ParsedFile:
    """Read every entry of a BibTeX file; see :mod:`dailypapers.citations` for the outcomes.

    :raises CitationFileError: when the file holds more than ``MAX_IMPORT_ENTRIES`` entries.
    """
    check_entry_count(len(_ENTRY_START.findall(text)))
    library = parse_string(text.replace("\x00", ""))
    entries: list[CitationEntry] = []
    errors: list[UnparseableEntry] = []
    index = 0
    for block in library.blocks:
        if isinstance(block, DuplicateBlockKeyBlock) and isinstance(
            block.ignore_error_block, Entry
        ):
            fields = {key: _unenclosed(value) for key, value in _fields(block.ignore_error_block)}
        elif isinstance(block, ParsingFailedBlock):
            index += 1
            errors.append(UnparseableEntry(index, _line(block.start_line), _reason(block.error)))
            continue
        elif isinstance(block, Entry):
            fields = dict(_fields(block))
        else:
            continue  # @string, @preamble, @comment and text between entries
        index += 1
        entry = _entry(index, _line(block.start_line), fields)
        if isinstance(entry, UnparseableEntry):
            errors.append(entry)
        else:
            entries.append(entry)
    check_entry_count(index)
    return ParsedFile("bibtex", entries, errors)


def _line(start_line: int | None) -> int | None:
    return start_line + 1 if start_line is not None else None  # bibtexparser counts from 0


def _reason(error: Exception) -> str:
    if isinstance(error, BlockAbortedException):
        detail = error.abort_reason.strip().splitlines()[0] if error.abort_reason.strip() else ""
        return f"BibTeX syntax error (unbalanced braces or quotes?): {detail}".rstrip(": ")
    return f"BibTeX syntax error: {str(error)[:200]}"


def _fields(entry: Entry) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for field in entry.fields:
        if isinstance(field.value, str):
            seen.setdefault(field.key.lower(), field.value)
    return list(seen.items())


def _unenclosed(value: str) -> str:
    """Duplicate-key blocks come back before the enclosing braces or quotes are removed."""
    stripped = value.strip()
    if len(stripped) >= 2 and (stripped[0], stripped[-1]) in {("{", "}"), ('"', '"')}:
        return stripped[1:-1]
    return stripped


def _authors(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    try:
        names = split_multiple_persons_names(raw)
    except Exception:  # a malformed list of names costs the names, not the entry
        names = [raw]
    authors = []
    for name in names:
        try:
            display = parse_single_name_into_parts(name, strict=False).merge_first_name_first
        except Exception:
            display = name
        cleaned = clean_text(latex.decode(display))
        if cleaned:
            authors.append(cleaned)
    return tuple(authors)


def _url(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.strip()
    macro = _URL_MACRO.match(text)
    return clean_text(_URL_ESCAPE.sub(r"\1", macro.group(1) if macro else text))


def _entry(
    index: int, line: int | None, fields: dict[str, str]
) -> CitationEntry | UnparseableEntry:
    title = clean_text(latex.decode(fields["title"])) if "title" in fields else None
    doi = clean_doi(fields.get("doi"))
    url = _url(fields.get("url"))
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "arxiv").strip().lower()
    arxiv_id = first_arxiv_id(
        [
            arxiv_id_from(fields.get("eprint")) if prefix == "arxiv" else None,
            arxiv_id_from(fields.get("arxiv")),
            arxiv_id_from(fields.get("arxivid")),
            arxiv_id_from_doi(doi),
            arxiv_id_from(url),
            # Google Scholar: journal={arXiv preprint arXiv:1706.03762}
            arxiv_id_in_reference(fields.get("journal")),
            arxiv_id_in_reference(fields.get("howpublished")),
        ]
    )
    if title is None and arxiv_id is None:
        return UnparseableEntry(index, line, "the entry has neither a title nor an arXiv id")
    raw_note = fields.get("note") or fields.get("annote")
    return CitationEntry(
        index=index,
        line=line,
        title=title,
        authors=_authors(fields.get("author")),
        year=year_from(fields.get("year")) or year_from(fields.get("date")),
        arxiv_id=arxiv_id,
        doi=doi,
        url=url,
        note=clean_note(latex.decode(raw_note)) if raw_note else None,
    )


# --- writing ---------------------------------------------------------------------------------

_KEY_STOPWORDS = frozenset(
    {"a", "all", "an", "and", "are", "as", "at", "by", "can", "do", "does", "for", "from", "how"}
    | {"in", "is", "of", "on", "or", "the", "to", "via", "we", "what", "with", "you"}
)
_INDENT = " " * 6  # arXiv's own export indents by six spaces


def write_bibtex(papers: Iterable[CitedPaper]) -> str:
    """One ``@misc`` entry per paper, as arXiv's "Export BibTeX" writes it, plus ``note``.

    The layout is written here rather than by bibtexparser's writer, which puts `` = `` between
    key and value where arXiv writes ``=``; every value is escaped by :func:`latex.escape`.
    """
    used: set[str] = set()
    blocks = []
    for paper in papers:
        key = _unique_key(_base_key(paper), used)
        fields = [("title", latex.escape(" ".join(paper.title.split())))]
        authors = [_author_field(name) for name in paper.authors if name.strip()]
        if authors:
            fields.append(("author", " and ".join(authors)))
        if paper.year is not None:
            fields.append(("year", str(paper.year)))
        fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", latex.escape(paper.primary_category)))
        fields.append(("url", abs_url(paper.arxiv_id)))
        if paper.note:
            fields.append(("note", latex.escape(paper.note)))
        body = "".join(f"{_INDENT}{name}={{{value}}},\n" for name, value in fields)
        blocks.append(f"@misc{{{key},\n{body}}}\n")
    return "\n".join(blocks)


def _author_field(name: str) -> str:
    """A name BibTeX reads back as the same words in the same order.

    A comma would turn "A, B" into "B A" and a lone "and" would split the name: such names,
    and names with escaped characters, are braced whole (read as one family name).
    """
    escaped = latex.escape(" ".join(name.split()))
    risky = "," in name or re.search(r"\band\b", name, re.I) or escaped != " ".join(name.split())
    return f"{{{escaped}}}" if risky else escaped


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _base_key(paper: CitedPaper) -> str:
    """arXiv's key shape: family name, year, then the first two significant title words."""
    family_words = split_display_name(paper.authors[0])[1].split() if paper.authors else []
    family = _ascii_word(family_words[-1]) if family_words else ""
    year = str(paper.year or "")
    words = [_ascii_word(word) for word in paper.title.split()]
    significant = [word for word in words if word and word not in _KEY_STOPWORDS][:2]
    key = family + year + "".join(significant)
    return key if family or significant else "arxiv" + _ascii_word(paper.arxiv_id)


def _unique_key(base: str, used: set[str]) -> str:
    key, n = base, 0
    while key in used:
        key, n = base + _suffix(n), n + 1
    used.add(key)
    return key


def _suffix(n: int) -> str:
    """a, b, …, z, aa, ab, …: the letters citation managers add to repeated keys."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters
