"""The per-item engine shared by ``@ks.sanitize`` and ``ks.wrap``.

A value handed to a guarded function or model is either one item or a batch.
Each item gets its own :class:`~keras_sanitize.Report`; the accepted items are
put back together in the form the callee expects, and the callee's outputs are
scattered back so that they line up with the inputs (NaN rows or ``None`` for
refused items).

Two ways to split a batch into items:

* ``"rows"`` (tensor pipelines, whose shape spec includes the batch axis): an
  item is the slice ``x[i:i+1]``. The whole batch is checked in one vectorized
  pass first; only when that pass finds something are the rows checked one by
  one to say which items were at fault.
* ``"items"`` (text, image, audio and custom pipelines): an item is ``x[i]``,
  run through the pipeline on its own, and the results are stacked again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, InputRejected, OutputRejected
from keras_sanitize.findings import Finding, Report, Severity
from keras_sanitize.stage import Stage, rejection_message

__all__ = [
    "ON_REJECT",
    "Screened",
    "assemble",
    "check_on_reject",
    "check_stage_arg",
    "combine",
    "decide",
    "raise_if_refused",
    "screen",
    "split_of",
]

ON_REJECT = ("raise", "skip")
SPLITS = ("rows", "items")
_SINGLE_TYPES = (str, bytes, bytearray, memoryview)


def check_on_reject(owner: str, on_reject: Any) -> str:
    """Validate ``on_reject`` ("raise" or "skip")."""
    if on_reject not in ON_REJECT:
        raise ConfigError(
            f"{owner}: on_reject must be one of {list(ON_REJECT)}. Received: on_reject={on_reject!r}"
        )
    return str(on_reject)


def check_stage_arg(owner: str, name: str, stage: Any) -> Stage:
    """Validate that a pipeline argument is a Stage (or Pipeline)."""
    if not isinstance(stage, Stage):
        raise ConfigError(
            f"{owner}: {name} must be a keras_sanitize Stage or Pipeline (e.g. ks.text.default()). "
            f"Received: {name}={stage!r:.120}"
        )
    return stage


def _modality_of(stage: Stage) -> str | None:
    return None if stage.modality == "any" else stage.modality


def split_of(stage: Stage, split: str | None = None) -> str:
    """``"rows"`` for tensor pipelines (shape includes the batch axis), else ``"items"``."""
    if split is not None:
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {list(SPLITS)} or None. Received: split={split!r}")
        return split
    return "rows" if _modality_of(stage) == "tensor" else "items"


@dataclass
class Screened:
    """The outcome of screening one argument: per-item reports and values."""

    n: int | None  # None: a single item, not a batch
    reports: list[Report]
    values: list[Any]  # per-item sanitized values (None where refused)
    split: str
    like: Any = None  # the raw argument, to rebuild the same container type
    whole: Any = None  # the whole sanitized batch, when every row passed untouched
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> list[int]:
        return [i for i, r in enumerate(self.reports) if r.ok]


def _length(value: Any) -> int | None:
    """Length of a batch-like value, or None when it is not one."""
    if isinstance(value, np.ndarray):
        return int(value.shape[0]) if value.ndim >= 1 else None
    if isinstance(value, (list, tuple)):
        return len(value)
    if isinstance(value, Mapping):
        lengths = {_length(v) for v in value.values()}
        return lengths.pop() if len(lengths) == 1 else None
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, _SINGLE_TYPES):
        try:
            return int(shape[0]) if len(shape) >= 1 and shape[0] is not None else None
        except Exception:
            return None
    return None


def _rows(value: Any, i: int) -> Any:
    if isinstance(value, Mapping):
        return {k: _rows(v, i) for k, v in value.items()}
    return value[i : i + 1]


def _is_batch(value: Any, split: str, batched: bool | None) -> bool:
    if batched is not None:
        return batched and _length(value) is not None
    if split == "rows":
        return _length(value) is not None
    if isinstance(value, _SINGLE_TYPES):
        return False
    return isinstance(value, (list, tuple, np.ndarray)) and _length(value) is not None


def _indexed(report: Report, index: int) -> Report:
    if report.index == index and all(f.index == index for f in report.findings):
        return report
    findings = tuple(f.with_(index=index) for f in report.findings)
    return Report(report.ok, report.value, findings, report.timings, report.modality, index)


def screen(stage: Stage, value: Any, *, split: str, batched: bool | None = None) -> Screened:
    """Run ``stage`` on ``value`` as one item or as a batch; one report per item."""
    if not _is_batch(value, split, batched):
        report = stage.run(value)
        return Screened(None, [report], [report.value if report.ok else None], split, like=value)
    n = _length(value) or 0
    if split == "items":
        reports = [stage.run(item, index=i) for i, item in enumerate(value)]
        return Screened(n, reports, [r.value if r.ok else None for r in reports], split, like=value)
    whole = stage.run(value)
    out = whole.value
    if whole.ok and not whole.findings and _length(out) == n:
        # Fast path: the vectorized pass found nothing, so no row can be at fault.
        reports = [Report(True, _rows(out, i), (), {}, whole.modality, i) for i in range(n)]
        return Screened(n, reports, [r.value for r in reports], split, like=value, whole=out)
    if n == 0:
        return Screened(0, [], [], split, like=value, whole=out if whole.ok else None)
    try:
        rows = [_rows(value, i) for i in range(n)]
    except Exception:  # a hostile array-like that cannot be sliced: one item
        return Screened(None, [whole], [out if whole.ok else None], split, like=value)
    reports = [_indexed(stage.run(row), i) for i, row in enumerate(rows)]
    keep = [i for i, r in enumerate(reports) if r.ok]
    if not whole.ok and keep:
        # The batch broke a rule: the rows that pass alone must also pass together
        # (a size budget), or they are refused too; never let a batch through in pieces.
        again = whole
        if len(keep) < n:
            try:
                again = stage.run(_join_rows([rows[i] for i in keep]))
            except Exception:  # rows that cannot be put back together: keep the batch verdict
                again = whole
        if not again.ok:
            for i in keep:
                findings = tuple(f.with_(index=i) for f in again.findings)
                reports[i] = Report(False, None, findings, again.timings, again.modality, i)
    return Screened(n, reports, [r.value if r.ok else None for r in reports], split, like=value)


def _merge(parts: Mapping[Any, Report], index: int | None) -> Report:
    """One report per item across several inputs; findings name their input."""
    if len(parts) == 1:
        return next(iter(parts.values()))
    findings: list[Finding] = []
    timings: dict[str, float] = {}
    for key, report in parts.items():
        findings.extend(f.with_(detail={**f.detail, "input": key}) for f in report.findings)
        timings.update({f"{key}/{k}": v for k, v in report.timings.items()})
    ok = all(r.ok for r in parts.values())
    value = {k: r.value for k, r in parts.items()} if ok else None
    return Report(ok, value, tuple(findings), timings, None, index)


def _mismatch(sizes: Mapping[Any, int | None]) -> Report:
    finding = Finding(
        "core.batch_mismatch",
        f"every guarded input must hold the same number of items; received sizes {dict(sizes)} "
        f"(None = a single item). Pass batches of equal length.",
        Severity.HIGH,
        stage="sanitize",
        detail={"sizes": {str(k): v for k, v in sizes.items()}},
        fatal=True,
    )
    return Report(False, None, (finding,), {}, None, None)


def combine(screens: Mapping[Any, Screened]) -> tuple[int | None, list[Report]]:
    """Per-item reports across inputs; an item is refused when any of its inputs is."""
    sizes = {k: s.n for k, s in screens.items()}
    distinct = set(sizes.values())
    if len(distinct) > 1:
        return None, [_mismatch(sizes)]
    n = distinct.pop() if distinct else None
    count = 1 if n is None else n
    reports = [
        _merge({k: s.reports[i] for k, s in screens.items()}, i if n is not None else None)
        for i in range(count)
    ]
    return n, reports


def raise_if_refused(reports: Sequence[Report], *, output: bool = False) -> None:
    """Raise InputRejected (or OutputRejected) carrying every item's report if any was refused."""
    refused = [r for r in reports if not r.ok]
    if not refused:
        return
    first = refused[0]
    total = len(reports)
    where = f" (item {first.index})" if first.index is not None else ""
    count = f"{len(refused)} of {total} items refused; first{where}: " if total > 1 else ""
    message = count + rejection_message(first)
    if output:
        raise OutputRejected(message.replace("input rejected", "output rejected", 1), first)
    raise InputRejected(message, first, list(reports))


def assemble(screened: Screened, keep: Sequence[int], *, to_array: bool) -> Any:
    """Put the sanitized values of the items ``keep`` back together as one batch."""
    if screened.n is None:
        return screened.values[0]
    if screened.whole is not None and len(keep) == screened.n:
        return screened.whole
    values = [screened.values[i] for i in keep]
    if screened.split == "rows":
        return _concat(values, screened.whole, screened.reports)
    like = screened.like
    if to_array or isinstance(like, np.ndarray):
        if values and all(isinstance(v, np.ndarray) for v in values):
            shapes = {v.shape for v in values}
            if len(shapes) == 1:
                return np.stack(values)
            raise InputRejected(
                f"accepted items have different shapes {sorted(shapes)[:4]}; they cannot form one "
                f"batch. Use a pipeline that resizes to one shape (e.g. ks.image.default(size=...))."
            )
        if to_array:
            return np.asarray(values) if values else np.asarray([])
    return tuple(values) if isinstance(like, tuple) else values


def _join_rows(rows: list[Any]) -> Any:
    """Undo :func:`_rows`: put raw ``x[i:i+1]`` slices back into one batch."""
    first = rows[0]
    if isinstance(first, Mapping):
        return {k: _join_rows([r[k] for r in rows]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(x for r in rows for x in r)
    return np.concatenate([np.asarray(r) for r in rows], axis=0)


def _concat(values: list[Any], whole: Any, reports: Sequence[Report]) -> Any:
    if not values:
        return whole
    first = values[0]
    if isinstance(first, Mapping):
        return {k: _concat([v[k] for v in values], None, reports) for k in first}
    if isinstance(first, (list, tuple)) and not isinstance(first, np.ndarray):
        if all(isinstance(v, np.ndarray) for v in first):
            cols = [_concat([v[j] for v in values], None, reports) for j in range(len(first))]
            return type(first)(cols)
        return type(first)(x for v in values for x in v)
    return np.concatenate([np.asarray(v) for v in values], axis=0)


def decide(screens: Mapping[Any, Screened], on_reject: str) -> tuple[int | None, list[Report], list[int]]:
    """Combine the inputs' reports; raise when asked to; return ``(n, reports, keep)``."""
    n, reports = combine(screens)
    if on_reject == "raise":
        raise_if_refused(reports)
    return n, reports, [i for i, r in enumerate(reports) if r.ok]
