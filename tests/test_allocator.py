"""The glibc arena cap (dailypapers/allocator.py): it limits the arenas of new threads, and
`dailypapers serve` applies the setting before its thread pool starts. Arenas are counted from
outside, in /proc/PID/maps, where each non-main arena is a 64 MiB-aligned 64 MiB reservation."""

from __future__ import annotations

import concurrent.futures
import os
import platform
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.support.live_server import wait_until_healthy

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas"),
]

ROOT = Path(__file__).parent.parent
HEAP_BYTES = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: one reservation per non-main heap


def glibc_heaps(pid: int | str = "self") -> int:
    """The non-main malloc heaps of a process: anonymous mappings that start on a 64 MiB
    boundary, readable-writable, with their inaccessible rest adding up to exactly 64 MiB."""
    rows = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        low, high = (int(part, 16) for part in fields[0].split("-"))
        rows.append((low, high, fields[1], len(fields) > 5))
    heaps = 0
    for index, (low, high, perms, named) in enumerate(rows):
        if low % HEAP_BYTES or named or not perms.startswith("rw"):
            continue
        end = high
        for next_low, next_high, next_perms, next_named in rows[index + 1 :]:
            if next_low != end or next_named or not next_perms.startswith("---"):
                break
            end = next_high
        heaps += end - low == HEAP_BYTES
    return heaps


THREADS_ALLOCATE = textwrap.dedent(
    """
    import sys, threading
    from dailypapers.allocator import cap_malloc_arenas

    print(cap_malloc_arenas(int(sys.argv[1])))  # before any import that may start a thread
    from tests.test_allocator import glibc_heaps
    barrier = threading.Barrier(9)
    kept = []
    def allocate():
        kept.append([bytearray(2000) for _ in range(50)])  # from this thread's arena
        barrier.wait()  # all alive at once, so none hands its arena on to the next
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    barrier.wait()
    print(glibc_heaps())
    """
)


@pytest.mark.parametrize(
    ("limit", "capped", "heaps"), [(0, "False", range(8, 17)), (2, "True", range(3))]
)
def test_the_cap_limits_the_arenas_of_new_threads(limit: int, capped: str, heaps: range) -> None:
    """Eight threads alive at once: one arena each by default (0; an import may have made one
    more), at most one shared beside the main arena under a cap of 2 (whose memory may span a
    second heap mapping when it grows past one)."""
    done = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATE, str(limit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    said, counted = done.stdout.split()
    assert (said, int(counted) in heaps) == (capped, True), counted


def _concurrent_pages(base_url: str, count: int) -> None:
    """``count`` front pages at once: sync routes, so the server's thread pool grows. Threads,
    not ``asyncio.run``: a Playwright test earlier in the process leaves an event loop running."""
    with (
        httpx.Client(base_url=base_url, timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool,
    ):
        answers = list(pool.map(lambda _: client.get("/"), range(count)))
    assert {answer.status_code for answer in answers} == {200}


def _serve_and_count_heaps(data_dir: Path, env_extra: dict[str, str]) -> int:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update(DAILYPAPERS_DATA_DIR=str(data_dir), DAILYPAPERS_TODAY="2026-02-27", **env_extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "dailypapers.cli", "serve", "--port", str(port)],
        cwd=ROOT,  # this checkout's code, whichever one the virtualenv's script points at
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(base_url, process=process)
        for _ in range(3):
            _concurrent_pages(base_url, 24)
        return glibc_heaps(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def test_serve_caps_the_arenas_before_its_thread_pool(tmp_path: Path) -> None:
    """Under the same concurrent load, `serve` with the default setting keeps to one arena
    beside the main one (two heaps at most: a busy arena may add a second), while with the cap
    off (0) its pool's threads take many."""
    capped = _serve_and_count_heaps(tmp_path / "capped", {})
    uncapped = _serve_and_count_heaps(tmp_path / "uncapped", {"DAILYPAPERS_MALLOC_ARENA_MAX": "0"})
    assert capped <= 2 < 4 < uncapped, (capped, uncapped)
