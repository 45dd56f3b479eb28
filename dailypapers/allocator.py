"""The C allocator of the server process: how many glibc malloc arenas its threads may use.

glibc gives each new thread its own malloc arena, up to eight per core. The server answers sync
routes on a pool of up to 40 threads (anyio's), so SQLite's page caches, Jinja's renders and the
query embedder's buffers get spread over many arenas; memory freed in one arena is kept there
and cannot serve a thread bound to another, so the process's RSS keeps climbing under steady
traffic although live allocations stay flat (docs/reliability.md, "Soak"). A couple of arenas
shared by all threads lets freed memory be reused. The GIL serializes most of these threads
anyway, so the lock contention that many arenas avoid is small here.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameter number for the arena limit, from glibc's <malloc.h>.
M_ARENA_MAX = -8


def cap_malloc_arenas(limit: int) -> bool:
    """Let the process's threads share at most ``limit`` glibc malloc arenas; 0 keeps glibc's
    default. Returns whether a limit was set (False on other C libraries, which lack it).

    Call it before the process starts its threads: arenas already made stay, and once more
    than eight exist glibc fixes its limit and ignores later calls."""
    if limit <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")  # glibc's soname on every Linux this runs on
    return bool(libc.mallopt(M_ARENA_MAX, limit))
