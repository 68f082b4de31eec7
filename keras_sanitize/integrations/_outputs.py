"""Model and function outputs lined up with their inputs, and output pipelines.

With ``on_reject="skip"`` the callee sees only the accepted items; its outputs
are spread back over all the inputs: NaN rows for arrays, ``None`` for items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report, echo
from keras_sanitize.integrations._batch import assemble, raise_if_refused, screen
from keras_sanitize.stage import Stage

__all__ = ["align", "attach_outputs", "check_outputs", "fill_like", "scatter"]


def _to_numpy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__array__") or hasattr(value, "numpy"):
        try:
            import keras

            return keras.ops.convert_to_numpy(value)
        except Exception:
            return np.asarray(value)
    return value


def _blank_rows(arr: np.ndarray, n: int) -> np.ndarray:
    shape = (n, *arr.shape[1:])
    if arr.dtype.kind in "fc":
        return np.full(shape, np.nan, dtype=arr.dtype)
    if arr.dtype.kind in "biu":
        return np.full(shape, np.nan, dtype=np.float64)
    return np.full(shape, None, dtype=object)


def _alignable(value: Any, k: int) -> bool:
    value = _to_numpy(value)
    if isinstance(value, np.ndarray):
        return value.ndim >= 1 and value.shape[0] == k
    if isinstance(value, Mapping):
        return all(_alignable(v, k) for v in value.values())
    if isinstance(value, (list, tuple)):
        return len(value) == k or (bool(value) and all(_alignable(v, k) for v in value))
    return False


def scatter(output: Any, keep: Sequence[int], n: int) -> Any:
    """Spread the outputs of the kept items back over ``n`` rows (NaN / None elsewhere).

    Float arrays get NaN rows, integer and bool arrays become float64 with NaN
    rows, other arrays get ``None``; lists and tuples get ``None`` items; dicts
    and lists of arrays (multi-output models) are handled per entry.
    """
    k = len(keep)
    arr = _to_numpy(output)
    if isinstance(arr, np.ndarray) and arr.ndim >= 1 and arr.shape[0] == k:
        out = _blank_rows(arr, n)
        out[list(keep)] = arr
        return out
    if isinstance(output, Mapping) and _alignable(output, k):
        return {key: scatter(v, keep, n) for key, v in output.items()}
    if isinstance(output, (list, tuple)):
        arrays = bool(output) and all(isinstance(_to_numpy(v), np.ndarray) for v in output)
        if arrays and all(_alignable(v, k) for v in output):
            return type(output)(scatter(v, keep, n) for v in output)
        if len(output) == k:
            items: list[Any] = [None] * n
            for pos, item in zip(keep, output):
                items[pos] = item
            return tuple(items) if isinstance(output, tuple) else items
    raise ConfigError(
        f"on_reject='skip' needs outputs with one entry per accepted item ({k}) to line them up "
        f"with the {n} inputs; received {echo(output)}. Return one row/item per input, or use "
        f"on_reject='raise'."
    )


def fill_like(template: Any, n: int) -> Any:
    """An all-refused output of ``n`` rows shaped like ``template`` (or a list of None)."""
    if template is None:
        return [None] * n
    arr = _to_numpy(template)
    if isinstance(arr, np.ndarray) and arr.ndim >= 1:
        return _blank_rows(arr, n)
    if isinstance(template, Mapping):
        return {k: fill_like(v, n) for k, v in template.items()}
    if (
        isinstance(template, (list, tuple))
        and template
        and all(isinstance(_to_numpy(v), np.ndarray) for v in template)
    ):
        return type(template)(fill_like(v, n) for v in template)
    return [None] * n


def check_outputs(
    stage: Stage, output: Any, *, split: str, on_reject: str
) -> tuple[Any, list[Report], list[int]]:
    """Run an output pipeline over a batch of outputs.

    Returns the (possibly sanitized) outputs, one report per output item, and
    the positions (within this output batch) whose outputs were refused.
    """
    value = _to_numpy(output) if split == "rows" else output
    screened = screen(stage, value, split=split, batched=True)
    if screened.n is None:
        report = screened.reports[0]
        if not report.ok and on_reject == "raise":
            raise_if_refused([report], output=True)
        return (report.value if report.ok else output), [report], ([] if report.ok else [0])
    refused = [i for i, r in enumerate(screened.reports) if not r.ok]
    if refused and on_reject == "raise":
        raise_if_refused(screened.reports, output=True)
    keep = screened.accepted
    if not keep:
        return fill_like(value, screened.n), screened.reports, refused
    kept = assemble(screened, keep, to_array=split == "rows" or isinstance(value, np.ndarray))
    if refused:
        kept = scatter(kept, keep, screened.n)
    return kept, screened.reports, refused


def attach_outputs(reports: list[Report], keep: Sequence[int], out_reports: Sequence[Report]) -> list[Report]:
    """Merge output reports (one per kept item) into the items' input reports."""
    merged = list(reports)
    for pos, out in zip(keep, out_reports):
        base = merged[pos]
        findings = base.findings + tuple(
            f.with_(index=base.index, detail={**f.detail, "output": True}) for f in out.findings
        )
        merged[pos] = Report(
            base.ok and out.ok,
            base.value if out.ok else None,
            findings,
            {**base.timings, **{f"output/{k}": v for k, v in out.timings.items()}},
            base.modality,
            base.index,
        )
    return merged


def align(output: Any, keep: Sequence[int], n: int | None, template: Any = None) -> Any:
    """The callee's output on the kept items, lined up with all ``n`` inputs.

    ``output`` is ignored when nothing was kept (the callee was not called).
    """
    if n is None:
        return output if keep else None
    if not keep:
        return fill_like(template, n)
    if len(keep) == n:
        return output
    return scatter(output, keep, n)
