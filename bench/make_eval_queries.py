"""Generate the known-item queries of the search evaluation (bench/search_eval_queries.jsonl).

The rule (docs/search-eval.md explains why) — every query has one answer, its paper's arXiv id:

- Papers: the records of the Hugging Face February 2026 month with a non-empty abstract, one
  per arXiv id (the first record of an id in file order).
- ``summary``: the paper's ``ai_summary``, whitespace collapsed, otherwise as is.
- ``paraphrase``: keywords from the ``ai_summary`` that share no word with the title. Both are
  lower-cased and split into runs of letters and digits (as FTS5's unicode61 does); a summary
  word is dropped when it has no letter, is one character long, is a stop word
  (:data:`STOPWORDS`), or its Porter stem (the stemmer of our FTS5 index and of the BM25
  baseline) equals a title word or a title word's stem; repeated stems are kept once. Of the
  ``n`` words left, the ``k = min(8, max(4, ceil(n / 2)))`` with the highest inverse document
  frequency (over the titles and abstracts of the 75k corpus plus the month; ties: the earlier
  word) are kept, in summary order. Papers with fewer than 4 words left get no such query.
- ``name``: the system name before a title's first colon, when that prefix looks like a name:
  at most 3 words, each starting with a capital letter or a digit and made only of letters,
  digits and ``- . + ^ * ( ) '``; one word (``V-GRPO``, ``Aster``; but not the "Position:" of
  position papers) always, two or three words only when one of them looks coined (a digit, or
  a capital right after a letter or digit: ``Kimi K2.5``, ``SAM 3D Body``, ``Quant VideoGen``),
  none of their hyphen pieces is a stop word and the first word is not an -ing word
  (``Late-to-Early Training``, ``Rethinking LLM-as-a-Judge`` are phrases). A name two papers
  of the month share (``Prism``, ``SAGE``) is dropped: it has no single answer.
- ``split``: ``tune`` when the SHA-256 of the arXiv id is even, else ``report``; a paper's
  queries all fall in the same half, so tuning never sees a reported paper.

Usage: python -m bench.make_eval_queries [--month PATH] [--corpus PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import lzma
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import Stemmer  # type: ignore[import-not-found]  # PyStemmer ships no types

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MONTH = SHARED_DATA / "hf_daily_papers_2026-02.jsonl.gz"
CORPUS = SHARED_DATA / "arxiv_cs_listings_2025-03_2026-07.jsonl.xz"
OUT = Path(__file__).parent / "search_eval_queries.jsonl"

MIN_KEYWORDS = 4
MAX_KEYWORDS = 8
MAX_NAME_WORDS = 3

# A common English stop-word list (NLTK's, plus a few contractions' pieces): words that say
# nothing about a paper. Summary boilerplate ("framework", "novel") is left to the IDF ranking.
STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
        "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
        "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
        "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
        "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into",
        "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
        "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
        "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such",
        "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
        "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
        "upon", "very", "via", "was", "we", "were", "what", "when", "where", "which", "while",
        "who", "whom", "why", "will", "with", "within", "without", "would", "you", "your",
        "yours", "yourself", "yourselves", "s", "t", "d", "ll", "m", "re", "ve", "y", "also",
        "may", "might", "must", "shall", "thus", "whether", "whose", "across", "along", "among",
        "amongst",
    }
)  # fmt: skip

_WORD = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W\d_]")
_NAME_WORD = re.compile(r"[A-Z0-9\u0391-\u03a9][\w.+^*()'\-\u0370-\u03ff]*")
# A digit, or a capital right after a letter or digit: "GRPO", "VideoGen", "K2.5", "3D".
_COINED = re.compile(r"\d|(?<=[^\W_])[A-Z]")
_stemmer = Stemmer.Stemmer("porter")


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits, as FTS5's unicode61 tokenizer splits text."""
    return _WORD.findall(text.casefold())


def stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def split_of(arxiv_id: str) -> str:
    return "tune" if int(hashlib.sha256(arxiv_id.encode()).hexdigest(), 16) % 2 == 0 else "report"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def month_papers(path: Path) -> list[dict[str, Any]]:
    """One record per arXiv id (the first), only those with an abstract."""
    seen: set[str] = set()
    papers = []
    for record in read_jsonl(path):
        if record["arxiv_id"] in seen:
            continue
        seen.add(record["arxiv_id"])
        if (record.get("abstract") or "").strip():
            papers.append(record)
    return papers


def document_frequencies(texts: Iterable[str]) -> tuple[collections.Counter[str], int]:
    """Per Porter stem, the number of texts containing it; and the number of texts."""
    frequencies: collections.Counter[str] = collections.Counter()
    cache: dict[str, str] = {}
    count = 0
    for text in texts:
        count += 1
        stems = set()
        for word in set(words(text)):
            if word not in cache:
                cache[word] = stem(word)
            stems.add(cache[word])
        frequencies.update(stems)
    return frequencies, count


def idf(frequency: int, count: int) -> float:
    return math.log((count - frequency + 0.5) / (frequency + 0.5) + 1.0)


def paraphrase(
    summary: str, title: str, frequencies: collections.Counter[str], count: int
) -> str | None:
    """Keywords of the summary sharing no word (or stem) with the title; None when < 4."""
    title_words = set(words(title))
    title_stems = title_words | {stem(word) for word in title_words}
    kept: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for word in words(summary):
        if len(word) < 2 or not _LETTER.search(word) or word in STOPWORDS:
            continue
        word_stem = stem(word)
        if word in title_stems or word_stem in title_stems or word_stem in seen:
            continue
        seen.add(word_stem)
        kept.append((len(kept), word, word_stem))
    if len(kept) < MIN_KEYWORDS:
        return None
    size = min(MAX_KEYWORDS, max(MIN_KEYWORDS, math.ceil(len(kept) / 2)))
    best = sorted(kept, key=lambda item: (-idf(frequencies[item[2]], count), item[0]))[:size]
    return " ".join(word for _, word, _ in sorted(best))


def system_name(title: str) -> str | None:
    """The name before the title's colon when it looks like one (see the module docstring)."""
    head, colon, rest = title.partition(":")
    head = " ".join(head.split())
    if not colon or not rest.strip() or not head or head.casefold() == "position":
        return None
    parts = head.split()
    if len(parts) > MAX_NAME_WORDS or not all(_NAME_WORD.fullmatch(part) for part in parts):
        return None
    if len(parts) == 1:
        return head
    pieces = [piece.casefold() for part in parts for piece in re.split(r"[-.]", part)]
    if parts[0].endswith("ing") or any(piece in STOPWORDS for piece in pieces):
        return None  # "Rethinking LLM-as-a-Judge", "Late-to-Early Training": phrases
    return head if any(_COINED.search(part) for part in parts) else None


def make_queries(month: Path, corpus: Path | None) -> tuple[list[dict[str, str]], dict[str, int]]:
    papers = month_papers(month)
    texts: list[str] = [f"{p['title']} {p['abstract']}" for p in papers]
    if corpus is not None:
        texts += (f"{r.get('title') or ''} {r.get('abstract') or ''}" for r in read_jsonl(corpus))
    frequencies, count = document_frequencies(texts)
    rows: list[dict[str, str]] = []
    skipped = collections.Counter[str]()
    names: dict[str, list[str]] = collections.defaultdict(list)
    for paper in papers:
        answer = paper["arxiv_id"]
        split = split_of(answer)
        summary = " ".join((paper.get("ai_summary") or "").split())
        if not summary:
            skipped["no ai_summary"] += 1
        else:
            rows.append({"set": "summary", "query": summary, "answer": answer, "split": split})
            keywords = paraphrase(summary, paper["title"], frequencies, count)
            if keywords is None:
                skipped["paraphrase: < 4 words left"] += 1
            else:
                rows.append(
                    {"set": "paraphrase", "query": keywords, "answer": answer, "split": split}
                )
        name = system_name(paper["title"])
        if name is not None:
            names[name.casefold()].append(answer)
            rows.append({"set": "name", "query": name, "answer": answer, "split": split})
    shared = {key for key, answers in names.items() if len(answers) > 1}
    skipped["name: shared by two papers"] = sum(len(names[key]) for key in shared)
    rows = [row for row in rows if row["set"] != "name" or row["query"].casefold() not in shared]
    rows.sort(key=lambda row: (row["set"], row["split"], row["answer"], row["query"]))
    skipped["papers with an abstract"] = len(papers)
    return rows, dict(skipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", type=Path, default=MONTH)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="document frequencies")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows, notes = make_queries(args.month, args.corpus)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = collections.Counter((row["set"], row["split"]) for row in rows)
    print(f"wrote {len(rows)} queries to {args.out}")
    for (query_set, split), number in sorted(counts.items()):
        print(f"  {query_set:<10} {split:<6} {number:>4}")
    for note, number in sorted(notes.items()):
        print(f"  ({note}: {number})")


if __name__ == "__main__":
    main()
