"""Open plain, gzip or xz files by name, as bytes, so one bad line cannot stop a stream."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path
from typing import IO


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, decompressing ``.gz`` and ``.xz`` on the fly."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # typeshed lacks IO[bytes] here
    if suffix == ".xz":
        return lzma.open(path, "rb")
    return path.open("rb")
