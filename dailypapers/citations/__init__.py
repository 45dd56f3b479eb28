"""Citation files in and out of a library: BibTeX, CSL JSON, RIS and plain id lists (pure).

Import: :func:`parse_file` (or one format's ``parse_*``) turns a file into
:class:`CitationEntry` rows to match against the store and :class:`UnparseableEntry` rows to
report; good entries are always kept. An entry's arXiv id is looked for in this order: BibTeX
``eprint`` (when ``archivePrefix``/``eprinttype`` is arXiv or absent), ``arxiv``/``arxivid``
fields, a DOI ``10.48550/arXiv.<id>``, URL fields (arXiv or Hugging Face paper URLs), CSL
``number``/``archive_location`` when ``archive``/``publisher`` is arXiv, and last a
``arXiv:<id>`` reference in a journal field (Google Scholar's form). Export:
``write_bibtex``/``write_csl_json``/``write_ris`` of :class:`CitedPaper`; reading a written file
back gives the same id, title, authors, year and note. docs/library-formats.md has the details.
"""

from .bibtex import parse_bibtex, write_bibtex
from .csl_json import parse_csl_json, write_csl_json
from .entries import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ENTRIES,
    CitationEntry,
    CitationFileError,
    CitationFormat,
    CitedPaper,
    ParsedFile,
    UnparseableEntry,
)
from .fields import normalized_title
from .files import decode, detect_format, parse_file
from .id_list import parse_id_list
from .ris import parse_ris, write_ris

__all__ = [
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ENTRIES",
    "CitationEntry",
    "CitationFileError",
    "CitationFormat",
    "CitedPaper",
    "ParsedFile",
    "UnparseableEntry",
    "decode",
    "detect_format",
    "normalized_title",
    "parse_bibtex",
    "parse_csl_json",
    "parse_file",
    "parse_id_list",
    "parse_ris",
    "write_bibtex",
    "write_csl_json",
    "write_ris",
]
