"""Tiny timing harness shared by the benchmark modules (plain timeit, best of N)."""

from __future__ import annotations

import re
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
    value: float | None = None  # a measured quantity other than time (e.g. MB), in ``unit``
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        if self.seconds is None or not self.ref_seconds:
            return None
        return self.seconds / self.ref_seconds

    @property
    def verdict(self) -> str:
        """``"met"``, ``"MISSED"``, or ``""`` (no goal, or nothing measured to judge it by)."""
        return judge(self)


_GOAL = re.compile(
    r"^\s*(<=|>=|≤|≥|<|>|~|=)\s*([0-9][0-9,_]*(?:\.[0-9]+)?)\s*(x|×|/s|s|ms|µs|us|ns|[A-Za-z%]+)\s*$"
)
_TIME = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}


def parse_goal(goal: str) -> tuple[str, float, str] | None:
    """``"≤ 1.05x"`` -> ``("<=", 1.05, "x")``; ``"≥ 2,000/s"`` -> ``(">=", 2000.0, "/s")``; else None."""
    m = _GOAL.match(goal)
    if not m:
        return None
    op = {"≤": "<=", "≥": ">="}.get(m.group(1), m.group(1))
    unit = "x" if m.group(3) == "×" else m.group(3)
    return op, float(m.group(2).replace(",", "").replace("_", "")), unit


def _measured(row: Row, unit: str) -> tuple[float, float] | None:
    """The row's figure in the goal's unit, and the goal's scale factor."""
    if unit == "x":
        return (row.ratio, 1.0) if row.ratio is not None else None
    if unit == "/s":
        return (1.0 / row.seconds, 1.0) if row.seconds else None
    if unit in _TIME:
        return (row.seconds, _TIME[unit]) if row.seconds is not None else None
    if row.value is not None and row.unit == unit:
        return row.value, 1.0
    return None


def judge(row: Row) -> str:
    """Whether ``row`` meets its goal: ``"met"``, ``"MISSED"``, or ``""`` when it cannot be judged."""
    parsed = parse_goal(row.goal) if row.goal else None
    if parsed is None:
        return ""
    op, target, unit = parsed
    got = _measured(row, unit)
    if got is None:
        return "MISSED" if row.what.startswith("FAILED") else ""
    value, scale = got
    target *= scale
    ok = {
        "<=": value <= target,
        "<": value < target,
        ">=": value >= target,
        ">": value > target,
        "=": value == target,
        "~": abs(value - target) <= 0.1 * abs(target),
    }[op]
    return "met" if ok else "MISSED"


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


def _cells(r: Row) -> tuple[str, ...]:
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
    time = _fmt_time(r.seconds)
    if r.seconds is None and r.value is not None:
        time = f"{r.value:g} {r.unit}"
    return (r.group, r.what, time, r.reference, _fmt_time(r.ref_seconds), ratio, r.goal, r.verdict, r.note)


HEADER = ("group", "what", "time", "reference", "ref time", "ratio", "goal", "goal met", "note")


def render(rows: list[Row]) -> str:
    """Render rows as a fixed-width table (no cell is cut), then a line per missed goal."""
    table = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(HEADER))]
    lines = []
    for j, row in enumerate(table):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(summary(rows))
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """One line: how many goals were met, and which were missed."""
    judged = [r for r in rows if r.verdict]
    missed = [r for r in judged if r.verdict == "MISSED"]
    line = f"goals: {len(judged) - len(missed)} of {len(judged)} met"
    failed = [r for r in rows if r.what.startswith("FAILED")]
    if failed:
        line += f"; {len(failed)} bench module(s) FAILED"
    if missed:
        line += "; MISSED: " + "; ".join(f"{r.group}: {r.what} ({r.goal})" for r in missed)
    return line


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (what ``make bench`` writes for the docs)."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in _cells(r)]
        if r.verdict == "MISSED":
            cells[7] = "**MISSED**"
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(summary(rows))
    return "\n".join(out) + "\n"
