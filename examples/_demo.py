"""Shared bits of the demo sections."""

from __future__ import annotations

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
