"""The CPU-heavy half of a snapshot load, optionally in a second process.

Reading, decompressing, parsing, hashing and normalizing take about as long as writing to the
database (docs/benchmarks.md), so a bulk load runs them in a child process and the parent only
writes: the two halves overlap on two cores. A line whose hash is already stored is counted as
unchanged without being normalized (its hash covers its id and every field). If the parent dies,
the child's next send fails on the closed pipe and it exits.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from dailypapers.arxiv_ids import ArxivId, ArxivIdError, parse_arxiv_id
from dailypapers.ingest.normalize import normalize_arxiv
from dailypapers.ingest.sources.hf_daily import SourceError
from dailypapers.ingest.sources.records import ArxivRaw
from dailypapers.ingest.sources.snapshot import SnapshotLine, read_snapshot
from dailypapers.ingest.text import RecordError, record_problem
from dailypapers.ingest.upsert_arxiv import HashedRecord

FIRST_BATCH_SIZE = 500


@dataclass(slots=True)
class PreparedBatch:
    records: list[HashedRecord] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (position, message)
    unchanged: int = 0
    last_line: int = 0
    bytes_read: int = 0  # of the (compressed) file, for progress


def record_id(item: SnapshotLine | ArxivRaw) -> ArxivId:
    """The record's arXiv id; :raises RecordError: naming the problem."""
    try:
        return parse_arxiv_id(str(item.data.get("id", "")))
    except ArxivIdError as exc:
        raise RecordError(f"id: {exc}") from None


def prepare_record(item: SnapshotLine | ArxivRaw, parsed: ArxivId) -> HashedRecord:
    """Normalize one record; whatever it holds, a problem is a :class:`RecordError`."""
    try:
        return HashedRecord(normalize_arxiv(item.data, parsed_id=parsed), item.source_hash)
    except (RecordError, TypeError, OverflowError) as exc:
        raise RecordError(record_problem(exc)) from None


def prepare_batches(
    path: Path, *, skip_lines: int, known_hashes: frozenset[str], batch_size: int
) -> Iterator[PreparedBatch]:
    """Yield batches of normalized records, errors and unchanged counts, in file order.

    Items are taken one at a time, not a batch's worth at once: holding thousands of parsed
    lines alive made the collector scan them over and over (~0.35 s of a 75k-line re-run).
    """
    bytes_read = [0]
    lines = read_snapshot(
        path, skip_lines=skip_lines, on_position=lambda n: bytes_read.__setitem__(0, n)
    )
    last_line = skip_lines
    # A small first batch lets the writing process start while the rest is prepared.
    size = min(batch_size, FIRST_BATCH_SIZE)
    batch, taken = PreparedBatch(), 0
    for item in lines:
        taken += 1
        if isinstance(item, SourceError):
            batch.errors.append((item.position, item.message))
            last_line = max(last_line, int(item.position.split()[-1]))
        else:
            last_line = item.line_number
            if item.source_hash in known_hashes:
                batch.unchanged += 1
            else:
                try:
                    batch.records.append(prepare_record(item, record_id(item)))
                except RecordError as exc:  # reported; the load goes on
                    batch.errors.append((item.position, str(exc)))
        if taken == size:
            batch.last_line, batch.bytes_read = last_line, bytes_read[0]
            yield batch
            batch, taken, size = PreparedBatch(), 0, batch_size
    if taken:
        batch.last_line, batch.bytes_read = last_line, bytes_read[0]
        yield batch


@dataclass(frozen=True, slots=True)
class _ChildFailure:
    message: str


def _child(
    connection: Connection,
    parents_end: Connection,
    path: Path,
    skip_lines: int,
    known_hashes: frozenset[str],
    batch_size: int,
) -> None:
    # A forked child holds a copy of the parent's reading end; close it, or the pipe would
    # never break when the parent dies and this process would wait on it forever.
    parents_end.close()
    try:
        for batch in prepare_batches(
            path, skip_lines=skip_lines, known_hashes=known_hashes, batch_size=batch_size
        ):
            connection.send(batch)
        connection.send(None)
    except (BrokenPipeError, EOFError):
        return  # the loading process is gone: stop quietly
    except Exception as exc:  # reported to the parent, which raises it
        connection.send(_ChildFailure(f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


def prepare_batches_in_background(
    path: Path, *, skip_lines: int, known_hashes: frozenset[str], batch_size: int
) -> Iterator[PreparedBatch]:
    """Like :func:`prepare_batches`, computed in a child process.

    ``fork`` where the platform has it: ``spawn`` would re-run the caller's main module (which
    breaks scripts without a ``__main__`` guard). The child only reads the file; it never
    touches the database connections it inherits.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_child,
        args=(sender, receiver, path, skip_lines, known_hashes, batch_size),
        daemon=True,
        name="dailypapers-prepare",
    )
    process.start()
    sender.close()
    # Receive (and unpickle) on a thread: it runs while the writing thread
    # waits in SQLite, which releases the GIL, so the two overlap. (Computing the column
    # values there too was measured slower: that work competes for the GIL.)
    received: queue.Queue[object] = queue.Queue(maxsize=1)

    def receive() -> None:
        while True:
            try:
                item = receiver.recv()
            except (EOFError, OSError):
                received.put(_ChildFailure("the preparing process ended unexpectedly"))
                return
            received.put(item)
            if item is None or isinstance(item, _ChildFailure):
                return

    thread = threading.Thread(target=receive, daemon=True, name="dailypapers-receive")
    thread.start()
    try:
        while True:
            item = received.get()
            if item is None:
                return
            if isinstance(item, _ChildFailure):
                raise RuntimeError(f"preparing {path.name} failed: {item.message}")
            assert isinstance(item, PreparedBatch)
            yield item
    finally:
        receiver.close()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
