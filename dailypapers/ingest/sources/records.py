"""What remote arXiv sources yield: a record in the snapshot's JSON schema, hashed, positioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash


@dataclass(frozen=True, slots=True)
class ArxivRaw:
    """One arXiv record reshaped into the public snapshot schema (the one form normalized)."""

    position: str  # where a problem is reported, e.g. "page start=5, entry 2"
    data: dict[str, Any]
    source_hash: str  # of the record as received: equal hashes mean nothing changed


class SourceFormatError(ValueError):
    """A response that is not the document the protocol promises (e.g. truncated XML)."""


def bytes_hash(raw: bytes) -> str:
    """128-bit XXH3 of a record: it only detects change (no adversary), and is far cheaper
    than blake2b, which counts on a re-run of a whole snapshot."""
    return xxhash.xxh3_128_hexdigest(raw)
