"""Shared bits of the demo sections."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keras_sanitize import Report


@dataclass
class Case:
    """One row of the demo table."""

    label: str
    verdict: str  # accepted | cleaned | refused
    findings: list[str] = field(default_factory=list)


def case_from_report(label: str, report: Report) -> Case:
    """Summarise a report: refused, cleaned (a sanitize finding), or accepted."""
    if not report.ok:
        verdict = "refused"
    elif any(f.action.value == "sanitize" for f in report.findings):
        verdict = "cleaned"
    else:
        verdict = "accepted"
    notes = [f"{f.action.value} {f.code}: {f.message}" for f in report.findings]
    return Case(label, verdict, notes)


def describe(value: Any) -> str:
    """A short label for a value."""
    return repr(value)[:40]


def refused_note(report: Report) -> str:
    """What a refused row says instead of the model's output: not sent, and why."""
    codes = ", ".join(dict.fromkeys(f.code for f in report.findings if f.rejects)) or "refused"
    return f"not sent to the model (refused: {codes})"


def print_table(title: str, cases: list[Case]) -> None:
    """Print one demo section as a table of verdicts and findings."""
    print(f"\n== {title} ==")
    print(f"{'input':<42} {'verdict':<9} findings")
    print(f"{'-' * 42} {'-' * 9} {'-' * 60}")
    for case in cases:
        detail = "; ".join(case.findings) or "-"
        lines = textwrap.wrap(detail, 90) or ["-"]
        print(f"{case.label[:42]:<42} {case.verdict:<9} {lines[0]}")
        for more in lines[1:]:
            print(f"{'':<52} {more}")


def run_alone(section: Callable[[], tuple[str, list[Case]]]) -> int:
    """Run one demo section as a script (``python examples/demo_image.py``) and print its table."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    title, cases = section()
    print_table(title, cases)
    return 0
