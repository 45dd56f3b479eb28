"""Snippets: a paper's title and a piece of its abstract with the query's words marked.

The backends find what to mark (FTS5's ``highlight``/``snippet``, PostgreSQL's lexemes); this
module holds what both share: the fragments, their safe HTML, and cutting an abstract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup, escape

from dailypapers.search.lexical.terms import WORD_TOKEN

# Abstract snippet length in tokens (FTS5 allows at most 64).
SNIPPET_TOKENS = 40
SNIPPET_FALLBACK_WORDS = 40
# Highlight markers: private-use characters, replaced by <mark> after HTML escaping.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of text, marked when it matches the query."""

    text: str
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class Snippet:
    """A paper's title and a piece of its abstract, split into plain and matching fragments."""

    title: tuple[Fragment, ...]
    abstract: tuple[Fragment, ...]

    @property
    def title_html(self) -> Markup:
        return _html(self.title)

    @property
    def abstract_html(self) -> Markup:
        return _html(self.abstract)


# Snippets by paper id, as ``snippets`` returns them.
Snippets = dict[int, Snippet]


def _html(fragments: Iterable[Fragment]) -> Markup:
    """Escaped text with ``<mark>`` around matches: safe to render as is."""
    return Markup("").join(
        Markup("<mark>{}</mark>").format(f.text) if f.highlighted else escape(f.text)
        for f in fragments
    )


def abstract_window(value: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """About SNIPPET_TOKENS words of ``value`` from a little before its first mark (the
    opening when nothing is marked), with "…" where it was cut; spans moved along."""
    if not spans:
        return opening(value), []
    starts = [m.start() for m in WORD_TOKEN.finditer(value)]
    first = max(0, next(i for i, s in enumerate(starts) if s >= spans[0][0]) - 3)
    begin = starts[first] if starts else 0
    last = first + SNIPPET_TOKENS
    end = starts[last] if last < len(starts) else len(value)
    prefix = "… " if begin > 0 else ""
    suffix = " …" if end < len(value) else ""
    shift = len(prefix) - begin
    cut = prefix + value[begin:end].rstrip() + suffix
    kept = [(a + shift, b + shift) for a, b in spans if a >= begin and b <= end]
    return cut, kept


def spans_to_fragments(value: str, spans: list[tuple[int, int]]) -> tuple[Fragment, ...]:
    """``value`` cut into fragments, those at ``spans`` marked."""
    fragments: list[Fragment] = []
    position = 0
    for start, end in spans:
        if start > position:
            fragments.append(Fragment(value[position:start]))
        fragments.append(Fragment(value[start:end], True))
        position = end
    if position < len(value):
        fragments.append(Fragment(value[position:]))
    return tuple(fragments)


def strip_markers(value: str) -> str:
    """``value`` without highlight markers (a stored text could hold one)."""
    return value.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def opening(abstract: str) -> str:
    """The abstract's first SNIPPET_FALLBACK_WORDS words, "…" when cut."""
    words = strip_markers(abstract).split()
    cut = " ".join(words[:SNIPPET_FALLBACK_WORDS])
    return cut + " …" if len(words) > SNIPPET_FALLBACK_WORDS else cut


def marked_fragments(marked: str) -> tuple[Fragment, ...]:
    """Split highlighter output at the markers (a stray marker only moves a highlight)."""
    fragments: list[Fragment] = []
    for i, piece in enumerate(marked.split(MARK_OPEN)):
        if i == 0:
            inside, rest = "", piece
        else:
            inside, _, rest = piece.partition(MARK_CLOSE)
        if inside:
            fragments.append(Fragment(inside.replace(MARK_CLOSE, ""), True))
        if rest:
            fragments.append(Fragment(rest.replace(MARK_CLOSE, "")))
    return tuple(fragments)
