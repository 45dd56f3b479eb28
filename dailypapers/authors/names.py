"""The key that groups the spellings of one author's name, and its URL slug.

arXiv does not identify people, so the site only merges spellings that cannot be two people by
their form alone: case, accents, punctuation and spacing ("José-Luis Pérez" = "Jose Luis
Perez" = "PÉREZ, José-Luis"). It never expands initials ("J. Smith" is not "John Smith") nor
matches on surnames: a wrong merge would credit strangers' papers, a missed one only splits a
page. The rule is documented in docs/authors.md.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—.,'’`´_]+")
_DROP = re.compile(r"[^\w\s]")


def author_key(name: str) -> str:
    """The grouping key of a printed name: folded words in first-name-first order ('' when
    the name has no letters)."""
    text = unicodedata.normalize("NFKC", name.replace("\x00", "")).strip()
    if text.count(",") == 1:  # "Last, First" as bibliographies print it
        last, first = (part.strip() for part in text.split(","))
        if last and first and not _is_suffix(first):
            text = f"{first} {last}"
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = _SEPARATORS.sub(" ", _DROP.sub(" ", _SEPARATORS.sub(" ", bare)).casefold()).split()
    return " ".join(words)


@functools.lru_cache(maxsize=65_536)
def cached_author_key(name: str) -> str:
    """``author_key`` remembered: cards, claims and the follow matcher key the same names
    again and again (a key costs microseconds to compute, a lookup far less)."""
    return author_key(name)


def _is_suffix(part: str) -> bool:
    return part.rstrip(".").casefold() in {"jr", "sr", "ii", "iii", "iv"}


def author_slug(name: str) -> str:
    """The key as a path segment: words joined by hyphens (hyphens never occur in a key)."""
    return cached_author_key(name).replace(" ", "-")


def key_of_slug(slug: str) -> str:
    """The key a slug stands for, re-normalized (a hand-typed slug may differ in case)."""
    return author_key(slug.replace("-", " "))
