"""The arXiv metadata snapshot (JSON lines, plain / .gz / .xz), streamed line by line.

Accepts the public ``arxiv-metadata-oai-snapshot`` schema and the cs-listings schema (DESIGN.md
§6). Each line comes with a hash of its bytes, so a rerun can tell an unchanged record without
normalizing it, and with its number, the resume point after an interruption.
"""

from __future__ import annotations

import gzip
import lzma
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import bytes_hash


@dataclass(frozen=True, slots=True)
class SnapshotLine:
    line_number: int
    data: dict[str, Any]
    source_hash: str

    @property
    def position(self) -> str:
        return f"line {self.line_number}"


def _decompressed(raw: IO[bytes], path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if suffix == ".xz":
        return lzma.LZMAFile(raw)
    return raw


READ_CHUNK_BYTES = 1 << 20


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of ``stream``, read a megabyte at a time (per-line reads cost more)."""
    carry = b""
    while chunk := stream.read(READ_CHUNK_BYTES):
        pieces = (carry + chunk).split(b"\n")
        carry = pieces.pop()
        yield from pieces
    if carry:
        yield carry


def read_snapshot(
    path: Path,
    *,
    skip_lines: int = 0,
    on_position: Callable[[int], None] | None = None,
) -> Iterator[SnapshotLine | SourceError]:
    """Yield each record after line ``skip_lines``, or an error naming its line.

    ``on_position`` receives the compressed bytes read so far (for a progress bar).
    """
    with path.open("rb") as raw, _decompressed(raw, path) as stream:
        for line_number, line in enumerate(_lines(stream), start=1):
            if on_position is not None and line_number % 1000 == 0:
                on_position(raw.tell())
            if line_number <= skip_lines:
                continue
            stripped = line.strip()
            if not stripped:
                continue
            try:
                data = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                yield SourceError(f"line {line_number}", f"malformed JSON: {exc}")
                continue
            if not isinstance(data, dict):
                yield SourceError(
                    f"line {line_number}", f"expected an object, got {type(data).__name__}"
                )
                continue
            yield SnapshotLine(line_number, data, bytes_hash(stripped))
        if on_position is not None:
            on_position(raw.tell())
