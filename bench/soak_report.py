"""The soak's verdict: per-window latency and memory, first against last, and the docs block.

The thresholds and why they are what they are: see the docstring of bench/soak.py.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import percentile

RELIABILITY_MD = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
SECTION = "## Soak"
BEGIN = "<!-- soak:{backend}:begin (bench/soak.py writes this block) -->"
END = "<!-- soak:{backend}:end -->"
KINDS = ("browse", "search", "vote", "comment")
RSS_GROWTH, RSS_FLOOR_MB = 0.15, 40.0
P99_FACTOR, P99_SLACK_MS = 2.0, 25.0
MAX_ERROR_FRACTION = 0.01
GATE_WINDOWS = 3


@dataclass
class Outcome:
    at: float
    kind: str
    status: str  # an HTTP status, or the exception's name
    latency: float  # from the scheduled time, seconds
    lag: float  # from the scheduled time to the request leaving, seconds


@dataclass
class Sample:
    at: float
    rss_mb: dict[str, float]
    threads: int
    fds: int


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


@dataclass
class Verdict:
    lines: list[str]
    failures: list[str]


def _slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0
    return statistics.linear_regression(xs, ys).slope


def _median(values: Iterable[float]) -> float:
    """The median of the values that exist (a window with no request of a kind has none)."""
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else math.nan


def judge(run: Run, windows: int, window_seconds: float) -> Verdict:
    """The per-window table, first against last figures with their trend, and what failed."""
    gate = max(1, min(GATE_WINDOWS, windows // 2))
    first, last = range(gate), range(windows - gate, windows)

    def window(at: float) -> int:
        return max(0, min(windows - 1, int(at // window_seconds)))

    failures: list[str] = []
    by_window: dict[tuple[int, str], list[float]] = defaultdict(list)
    for o in run.outcomes:
        by_window[(window(o.at), o.kind)].append(o.latency)
        by_window[(window(o.at), "all")].append(o.latency)

    def p(w: int, kind: str, q: float) -> float:
        samples = by_window.get((w, kind))
        return percentile(samples, q) * 1000 if samples else math.nan

    columns = " | ".join(f"{k} p50 / p99 ms" for k in (*KINDS, "all"))
    lines = [f"| window | requests | {columns} | server RSS MB | worker RSS MB |"]
    lines.append("|" + "---|" * (len(KINDS) + 5))
    rss: dict[tuple[int, str], list[float]] = defaultdict(list)
    for s in run.samples:
        for name, mb in s.rss_mb.items():
            rss[(window(s.at), name)].append(mb)
    for w in range(windows):
        cells = [f"{p(w, k, 0.5):.0f} / {p(w, k, 0.99):.0f}" for k in (*KINDS, "all")]
        memory = [f"{_median(rss[(w, name)]):.0f}" for name in ("server", "worker")]
        count = len(by_window.get((w, "all"), []))
        lines.append(f"| {w + 1} | {count} | " + " | ".join([*cells, *memory]) + " |")
    lines.append("")

    for kind in (*KINDS, "all"):
        requests = sum(len(by_window.get((w, kind), [])) for w in range(windows))
        p50 = [_median(p(w, kind, 0.5) for w in span) for span in (first, last)]
        start, end = (_median(p(w, kind, 0.99) for w in span) for span in (first, last))
        series = [(float(w), p(w, kind, 0.99)) for w in range(windows)]
        present = [(w, v) for w, v in series if not math.isnan(v)]
        slope = _slope([w for w, _ in present], [v for _, v in present]) * 60 / window_seconds
        limit = start * P99_FACTOR + P99_SLACK_MS
        lines.append(
            f"- {kind}: {requests} requests; p50 {p50[0]:.0f} → {p50[1]:.0f} ms, "
            f"p99 {start:.0f} → {end:.0f} ms (trend {slope:+.1f} ms/min; limit {limit:.0f} ms)"
        )
        if end > limit:
            failures.append(f"{kind} p99 grew from {start:.0f} to {end:.0f} ms (limit {limit:.0f})")
    names = sorted({name for s in run.samples for name in s.rss_mb})
    for name in names:
        series = [(s.at, s.rss_mb[name]) for s in run.samples if name in s.rss_mb]
        start = _median(v for t, v in series if window(t) in first)
        end = _median(v for t, v in series if window(t) in last)
        slope = _slope([t / 60 for t, _ in series], [v for _, v in series])
        limit = start + max(start * RSS_GROWTH, RSS_FLOOR_MB)
        lines.append(
            f"- {name} RSS: {start:.0f} MB at the start, {end:.0f} MB at the end, "
            f"peak {max(v for _, v in series):.0f} MB "
            f"(trend {slope:+.2f} MB/min; limit {limit:.0f} MB)"
        )
        if end > limit:
            failures.append(f"{name} RSS grew from {start:.0f} to {end:.0f} MB (limit {limit:.0f})")
    if not names:
        failures.append("no memory samples were taken")
    else:
        s0, s1 = run.samples[0], run.samples[-1]
        lines.append(
            f"- server threads {s0.threads} → {s1.threads}, open files {s0.fds} → {s1.fds}"
        )

    expected = {"comment": "303"}
    statuses = Counter((o.kind, o.status) for o in run.outcomes)
    errors = {key: n for key, n in statuses.items() if key[1] != expected.get(key[0], "200")}
    total = len(run.outcomes)
    lags = [o.lag for o in run.outcomes]
    listed = ", ".join(f"{k} {s} ×{n}" for (k, s), n in sorted(errors.items()))
    lag = f"{percentile(lags, 0.99) * 1000:.0f} ms" if lags else "-"
    lines.append(
        f"- {total} requests, {sum(errors.values())} errors{': ' + listed if errors else ''}; "
        f"client dispatch lag p99 {lag}"
    )
    server_errors = sum(n for (_, s), n in errors.items() if s.startswith("5"))
    if server_errors:
        failures.append(f"{server_errors} responses were 5xx")
    if sum(errors.values()) > MAX_ERROR_FRACTION * total:
        failures.append(f"{sum(errors.values())} of {total} requests failed")
    if not total:
        failures.append("no requests were made")
    return Verdict(lines, failures)


def write_docs(text: str, backend: str, path: Path = RELIABILITY_MD) -> None:
    """Replace this backend's last block in docs/reliability.md; a first run of a backend adds
    its block at the end of the Soak section (made if missing)."""
    begin, end = BEGIN.format(backend=backend), END.format(backend=backend)
    block = f"{begin}\n{text}\n{end}"
    current = path.read_text() if path.exists() else "# Reliability\n"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    elif SECTION in current:
        head, rest = current.split(SECTION, 1)
        body, heading, tail = rest.partition("\n## ")
        current = f"{head}{SECTION}{body.rstrip()}\n\n{block}\n\n{heading.lstrip()}{tail}"
        current = current.rstrip("\n") + "\n"
    else:
        current = current.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    path.write_text(current)
