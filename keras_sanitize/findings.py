"""Findings and reports: the plain data every stage and pipeline produces.

A :class:`Finding` is one thing a stage noticed. A :class:`Report` is the outcome
of running a pipeline on one input. Both are immutable and JSON-able through
``to_dict()``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from keras_sanitize.codes import RENAMED, current_code

__all__ = ["Action", "Finding", "Report", "Severity", "echo"]


class Severity(str, enum.Enum):
    """How serious a finding is, from ``info`` to ``critical``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    def __str__(self) -> str:
        return self.value


class Action(str, enum.Enum):
    """What a finding does to the input.

    ``reject`` refuses the input, ``sanitize`` lets the stage's change stand and
    the input go on, ``warn`` only records the finding.
    """

    REJECT = "reject"
    SANITIZE = "sanitize"
    WARN = "warn"

    def __str__(self) -> str:
        return self.value


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Turn ``value`` into something ``json.dumps`` accepts, bounded in size."""
    if depth > 8:
        return "..."
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, depth + 1)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in list(value.items())[:256]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth + 1) for v in list(value)[:256]]
    if isinstance(value, bytes):
        return echo(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return _jsonable(item(), depth + 1)
        except Exception:
            pass
    return echo(value)


def echo(value: Any, limit: int = 80) -> str:
    """Return a short, printable rendering of a received value for messages.

    Control and invisible characters are shown as escapes so that a finding's
    message can never itself carry the attack it reports.

    Example:
        >>> echo("a\\u202eb")
        "'a\\\\u202eb'"
    """
    try:
        if isinstance(value, str):
            text = value if len(value) <= limit else value[:limit] + "…"
            out = repr(text) if text.isprintable() else ascii(text)
        elif isinstance(value, (bytes, bytearray)):
            out = repr(bytes(value[:limit])) + ("…" if len(value) > limit else "")
        else:
            shape = getattr(value, "shape", None)
            dtype = getattr(value, "dtype", None)
            if shape is not None and dtype is not None:
                out = f"<{type(value).__name__} shape={tuple(shape)} dtype={dtype}>"
            else:
                out = f"<{type(value).__name__}>"
    except Exception:
        out = f"<{type(value).__name__}>"
    return out if len(out) <= 2 * limit else out[: 2 * limit] + "…"


@dataclass(frozen=True)
class Finding:
    """One thing a stage noticed.

    Attributes:
        code: stable dotted identifier, e.g. ``"text.bidi_control"``.
        message: states the rule, echoes what was received and how to fix it.
        severity: how serious it is.
        action: what it does to the input (after policy and mode).
        stage: name of the stage that reported it.
        index: item index within a batch, if any.
        span: ``(start, end)`` offsets within the item, if any.
        score: a detector score, if any.
        detail: JSON-able extra data (decoded hidden text, measured values...).
        fatal: the input cannot go on (e.g. it could not be decoded); a fatal
            reject stays a reject even in ``mode="monitor"``.

    Example:
        >>> f = Finding("tensor.non_finite", "2 NaN values; finite required", "high", "reject")
        >>> f.to_dict()["code"]
        'tensor.non_finite'
    """

    code: str
    message: str
    severity: Severity = Severity.MEDIUM
    action: Action = Action.REJECT
    stage: str = ""
    index: int | None = None
    span: tuple[int, int] | None = None
    score: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    fatal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "action", Action(self.action))

    @property
    def rejects(self) -> bool:
        """Whether this finding refuses the input."""
        return self.action is Action.REJECT

    def with_(self, **changes: Any) -> Finding:
        """Return a copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-able plain data."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "severity": self.severity.value,
            "action": self.action.value,
            "stage": self.stage,
        }
        if self.index is not None:
            out["index"] = self.index
        if self.span is not None:
            out["span"] = [int(self.span[0]), int(self.span[1])]
        if self.score is not None:
            out["score"] = _jsonable(float(self.score))
        if self.detail:
            out["detail"] = _jsonable(self.detail)
        if self.fatal:
            out["fatal"] = True
        return out

    def __str__(self) -> str:
        where = f" [item {self.index}]" if self.index is not None else ""
        return f"{self.action.value.upper()} {self.code}{where}: {self.message}"


@dataclass(frozen=True)
class Report:
    """The outcome of running a pipeline (or one stage) on one input.

    Attributes:
        ok: ``True`` unless a finding rejected the input.
        value: the sanitized value (``None`` when the input could not go on).
        findings: everything the stages noticed, in order.
        timings: seconds spent per stage name.
        modality: the pipeline's modality, if any.
        index: item index within a batch, if any.

    Example:
        >>> import keras_sanitize as ks
        >>> r = ks.validate("hello")
        >>> r.ok, r.value
        (True, 'hello')
    """

    ok: bool
    value: Any
    findings: tuple[Finding, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    modality: str | None = None
    index: int | None = None

    @property
    def rejections(self) -> tuple[Finding, ...]:
        """The findings that refused the input."""
        return tuple(f for f in self.findings if f.rejects)

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of all findings, in order."""
        return tuple(f.code for f in self.findings)

    def has(self, code_prefix: str) -> bool:
        """Whether any finding's code starts with ``code_prefix`` (a renamed code's old name works)."""
        if code_prefix in RENAMED:
            code_prefix = current_code(code_prefix)
        return any(f.code.startswith(code_prefix) for f in self.findings)

    def to_dict(self, include_value: bool = False) -> dict[str, Any]:
        """Return the report as JSON-able plain data.

        The sanitized value is left out unless ``include_value`` is true (it may
        be a large array); when included it is rendered JSON-safely.
        """
        out: dict[str, Any] = {
            "ok": self.ok,
            "modality": self.modality,
            "findings": [f.to_dict() for f in self.findings],
            "timings": {k: float(v) for k, v in self.timings.items()},
        }
        if self.index is not None:
            out["index"] = self.index
        if include_value:
            v = self.value
            out["value"] = v if isinstance(v, str) else _jsonable(v)
        return out

    def summary(self) -> str:
        """A one-line human summary: verdict and finding codes."""
        verdict = "ok" if self.ok else "REJECTED"
        codes = ", ".join(dict.fromkeys(self.codes)) or "no findings"
        return f"{verdict}: {codes}"

    def __str__(self) -> str:
        lines = [self.summary()] + [f"  {f}" for f in self.findings]
        return "\n".join(lines)

