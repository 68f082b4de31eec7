"""Sending one batch to a sandbox's workers, shared by ``Sandbox.validate`` and ``IsolatedPipeline``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.sandbox import _codec as codec

if TYPE_CHECKING:
    from keras_sanitize.sandbox._pool import Sandbox


def _refuse_unsendable(pipe: Any, values: list[Any], indices: list[int | None]) -> dict[int, Report]:
    out = {}
    for j, v in enumerate(values):
        try:
            codec.encode(v, [])
        except codec.Unsupported as exc:
            finding = Finding(
                "sandbox.unsupported_value",
                f"{exc} cannot be sent to a sandbox worker; send bytes, text, numbers, numpy arrays "
                f"or lists/dicts/tuples of them. Received: {echo(v)}",
                Severity.HIGH, Action.REJECT, "sandbox", indices[j], fatal=True,
            )  # fmt: skip
            out[j] = Report(False, None, (finding,), {}, pipe.modality_name, indices[j])
    return out


def remote_batch(box: Sandbox, pipe: Any, values: list[Any], indices: list[int | None] | None = None,
                 **kw: Any) -> list[Report]:  # fmt: skip
    """Run ``pipe`` (isolated, or a worker-side validate) on ``values`` in ``box``; one report each."""
    if indices is None:
        indices = list(range(len(values))) if len(values) != 1 else [None]
    bad = _refuse_unsendable(pipe, values, indices)
    keep = [j for j in range(len(values)) if j not in bad]
    if not kw and len(keep) > 1:
        got = box._run_batch(pipe, [values[j] for j in keep])
        got = [_reindex(r, indices[j]) for r, j in zip(got, keep)]
    else:
        got = box._run_items(pipe, [values[j] for j in keep], [indices[j] for j in keep], **kw)
    results = dict(zip(keep, got))
    results.update(bad)
    return [results[j] for j in range(len(values))]


def _reindex(report: Report, index: int | None) -> Report:
    if report.index == index:
        return report
    findings = tuple(f.with_(index=index) for f in report.findings)
    return Report(report.ok, report.value, findings, report.timings, report.modality, index)
