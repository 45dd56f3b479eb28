"""LaTeX text in BibTeX values: decode to Unicode for reading, escape for writing.

Decoding is pylatexenc's (what bibtexparser's ``LatexDecodingMiddleware`` runs), applied to the
few fields we read rather than to every field: names must be split on " and " *before* their
braces go, and URLs must not lose everything after a ``%``. :func:`escape` is the inverse on
plain text: ``decode(escape(text)) == text`` for any text (property-tested).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from pylatexenc import latexwalker
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db


@cache
def _decoder() -> LatexNodes2Text:
    context = get_default_latex_context_db()
    context.add_context_category(
        "dailypapers-citations",
        prepend=True,
        macros=[
            MacroTextSpec("url", simplify_repl="%s"),
            # pylatexenc maps these to a space or a modifier letter; escape() relies on them.
            MacroTextSpec("textbraceleft", simplify_repl="{"),
            MacroTextSpec("textbraceright", simplify_repl="}"),
            MacroTextSpec("textasciicircum", simplify_repl="^"),
        ],
    )
    # math_mode="verbatim" keeps "$O(n^2)$" as written, as bibtexparser's middleware does.
    return LatexNodes2Text(latex_context=context, keep_braced_groups=False, math_mode="verbatim")


@cache
def _parser_context() -> latexwalker.LatexContextDb:
    """Built once: LatexWalker otherwise builds this database again for every value it parses."""
    return latexwalker.get_default_latex_context_db()


@lru_cache(maxsize=8192)  # the same names and journal strings recur through a file
def decode(value: str) -> str:
    """Accents, escapes and braces to Unicode: ``M{\\"u}ller \\& {Co}`` → ``Müller & Co``."""
    if "\\" not in value and "$" not in value and not _LIGATURE.search(value):
        # The common cases, without a parse (pylatexenc takes a fraction of a millisecond a
        # value): plain text, or text whose only markup is case-protecting braces, "{BERT}".
        return value.replace("{", "").replace("}", "") if "{" in value else value
    try:
        return str(_decoder().latex_to_text(value, latex_context=_parser_context()))
    except Exception:  # pylatexenc is tolerant; should it still fail, keep the text as written
        return value


# What LaTeX (and pylatexenc) would read as markup or a ligature in plain text.
_LIGATURE = re.compile(r"--|''|``|[?!]`|~|%")
_SPECIAL = re.compile(r"[\\{}&%$#_~^@`]|-(?=-)|'(?=')")
_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # "@word{" inside a value starts a new entry for bibtexparser's splitter. Braces are
    # escaped already, so this is belt and braces for readers that scan for "@" alone.
    "@": "{@}",
    # "``" and "?`" are ligatures: brace the backtick.
    "`": "{`}",
    # "--" is a dash and "''" a closing quote: break the pair with an empty group.
    "-": "-{}",
    "'": "'{}",
}


def escape(text: str) -> str:
    """Plain text to LaTeX that BibTeX keeps balanced and :func:`decode` reads back unchanged.

    Non-ASCII letters stay as they are (the file is UTF-8, which biber and bibtexparser read).
    """
    return _SPECIAL.sub(lambda match: _ESCAPES[match.group(0)], text)
