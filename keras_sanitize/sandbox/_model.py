"""``SandboxedModel``: a Keras model loaded and run inside sandbox workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import types
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keras_sanitize.errors import ArtifactError, ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity
from keras_sanitize.integrations._batch import check_on_reject, decide, raise_if_refused
from keras_sanitize.integrations._inputs import Inputs
from keras_sanitize.integrations._outputs import align, attach_outputs, check_outputs
from keras_sanitize.integrations.wrap import SanitizedModel, derive_inputs
from keras_sanitize.pipeline import Pipeline
from keras_sanitize.sandbox import _codec as codec
from keras_sanitize.sandbox._group import Group as _Group
from keras_sanitize.sandbox._isolated import IsolatedPipeline, isolate, resolve_sandbox
from keras_sanitize.sandbox._pool import Sandbox
from keras_sanitize.sandbox._process import Died, StartFailed, death_finding
from keras_sanitize.stage import Stage

__all__ = ["SandboxedModel"]

_FIRST_CALL_SECONDS = 120.0  # a worker's first call also compiles the model (XLA)
_KWARGS = ("batch_size", "verbose", "steps", "training")


class _ModelFailure(Exception):
    def __init__(self, make: Callable[[int | None], Finding]) -> None:
        super().__init__("the sandboxed model failed")
        self.make = make


def _death(died: Died, status: dict[str, Any], limits: Any) -> _ModelFailure:
    return _ModelFailure(lambda i: death_finding(died, status, limits, i, "the model"))


def _stub(spec: Any) -> Any:
    name, shape, dtype = spec
    return types.SimpleNamespace(name=name, shape=tuple(shape), dtype=dtype)


class _RemoteModel:
    """The model as the caller sees it: specs from the worker, calls through shared memory."""

    def __init__(self, box: Sandbox, group: _Group, info: Mapping[str, Any]) -> None:
        self.box = box
        self.group = group
        inputs = info.get("inputs") or None
        if inputs is not None:
            kind, specs = inputs["kind"], inputs["specs"]
            if kind == "dict":
                self._inputs_struct: Any = {k: _stub(s) for k, s in specs.items()}
                self.inputs: Any = list(self._inputs_struct.values())
            else:
                self.inputs = [_stub(s) for s in specs]
                self._inputs_struct = self.inputs
        outputs = info.get("outputs")
        self.outputs = [_stub(s) for s in outputs] if outputs else None
        self.name = "sandboxed_model"
        self.calls: dict[int, int] = {}

    def _call(self, method: str, x: Any, kwargs: Mapping[str, Any]) -> Any:
        extra = {k: v for k, v in kwargs.items() if v is not None}
        bad = [k for k, v in extra.items() if k not in _KWARGS or not isinstance(v, (int, bool, str))]
        if bad:
            raise ConfigError(f"SandboxedModel.{method}: only {list(_KWARGS)} (plain values) cross the "
                              f"sandbox. Received: {bad}")  # fmt: skip
        group, limits = self.group, self.box.limits
        try:
            worker = group.acquire()
        except StartFailed as exc:
            text = str(exc)[:300]
            raise _ModelFailure(lambda i: Finding(
                "sandbox.unavailable", f"no model worker could start ({text}); the batch was refused "
                "unchecked.", Severity.HIGH, Action.REJECT, "sandbox", i, fatal=True)) from None  # fmt: skip
        first = self.calls.get(worker.pid, 0) == 0
        timeout = max(limits.timeout, _FIRST_CALL_SECONDS) if first else limits.timeout
        try:
            task = {"method": method, "x": x, "kwargs": extra}
            worker.send_task("predict", task, limits.max_transfer_mb << 20)
            msg = worker.receive(time.monotonic() + timeout, limits.max_transfer_mb << 20)
            body = worker.decode(msg)
            if msg["op"] != "done":
                raise Died("protocol", {"error": f"unexpected message {msg['op']!r}"})
        except codec.Unsupported as exc:
            group.release(worker)
            raise ConfigError(f"SandboxedModel.{method}: the input cannot cross the sandbox: {exc}") from None
        except Died as died:
            status = group.discard(worker)
            failure = _death(died, status, limits)
            raise failure from None
        except BaseException:
            group.discard(worker)
            raise
        self.calls[worker.pid] = self.calls.get(worker.pid, 0) + 1
        if msg.get("retire"):
            group.discard(worker)
        else:
            group.release(worker)
        error = msg.get("error")
        if error == "memory":
            from keras_sanitize.sandbox._tasks import memory_finding

            raise _ModelFailure(lambda i: memory_finding(limits.memory_mb, "the model on this batch", i))
        if error:
            text = str(error)
            raise _ModelFailure(lambda i: Finding(
                "sandbox.model_failed", f"the sandboxed model raised on this batch: {text[:300]}; the batch "
                "was refused.", Severity.HIGH, Action.REJECT, "sandbox", i, detail={"error": text[:300]},
                fatal=True))  # fmt: skip
        if not isinstance(body, dict) or "y" not in body:
            raise _ModelFailure(lambda i: death_finding(Died("protocol", {"error": "no output"}), {}, limits,
                                                        i, "the model"))  # fmt: skip
        return body["y"]

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """``model.predict`` in a worker."""
        return self._call("predict", x, kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        """``model.predict_on_batch`` in a worker."""
        return self._call("predict_on_batch", x, {})

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        """``model(x)`` in a worker (numpy outputs)."""
        return self._call("call", x, kwargs)


def _isolate_raw(inputs: Any, box: Sandbox) -> Any:
    """Image and audio pipelines (decoders) run in the sandbox too; tensor guards stay in-process."""
    if isinstance(inputs, Pipeline) and not isinstance(inputs, IsolatedPipeline):
        return isolate(inputs, box) if inputs.modality_name in ("image", "audio") else inputs
    if isinstance(inputs, Mapping):
        return {k: _isolate_raw(v, box) for k, v in inputs.items()}
    if isinstance(inputs, Sequence) and not isinstance(inputs, (str, bytes)):
        return [_isolate_raw(v, box) for v in inputs]
    return inputs


class SandboxedModel(SanitizedModel):
    """A Keras model file loaded (``ks.load_model``: hash pin, scan, safe mode) and run in sandbox workers.

    The caller's process never imports Keras for it: inputs are sanitized
    (image and audio pipelines in the sandbox's pipeline workers), sent to a
    model worker through shared memory, and the outputs come back the same way.
    A worker that crashes, runs out of memory or time refuses that batch
    (:class:`~keras_sanitize.InputRejected`, or refused reports with
    ``on_reject="skip"``) and is replaced; the next call is served.

    Args:
        path: the ``.keras`` file (``.h5`` with ``allow_legacy_h5=True``).
        sha256: the pinned digest (strongly recommended).
        inputs, outputs, on_reject, return_reports, split: as for :func:`keras_sanitize.wrap`.
        sandbox: a :class:`Sandbox`, or ``None``/``True`` for the process-wide
            default one (:func:`default_sandbox`); the model gets its own
            workers in it, which :meth:`close` stops.
        allow_modules, allow_legacy_h5: passed to ``ks.load_model``.

    Example:
        >>> import os, tempfile, keras, numpy as np, keras_sanitize as ks
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
        >>> with ks.sandbox.SandboxedModel(path, sandbox=ks.sandbox.Sandbox(workers=1)) as model:
        ...     model.predict(np.zeros((4, 3), "float32"), verbose=0).shape
        (4, 2)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sha256: str | None = None,
        inputs: Stage | Mapping[str, Stage] | Sequence[Stage] | None = None,
        sandbox: Sandbox | bool | None = None,
        *,
        outputs: Stage | None = None,
        on_reject: str = "raise",
        return_reports: bool = False,
        split: str | None = None,
        allow_modules: Sequence[str] = (),
        allow_legacy_h5: bool = False,
    ) -> None:
        check_on_reject("SandboxedModel", on_reject)
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"SandboxedModel: path must be a model file path. Received: path={path!r:.120}")
        box = resolve_sandbox("SandboxedModel", True if sandbox is None else sandbox)
        real = os.path.abspath(os.fspath(path))
        spec = {"model": {"path": real, "sha256": sha256, "allow_modules": list(allow_modules),
                          "allow_legacy_h5": bool(allow_legacy_h5)},
                "read_paths": [*box.read_paths, real]}  # fmt: skip
        key = f"model:{uuid.uuid4().hex}"
        group = box._group(key, spec, warm=True)
        try:
            worker = group.acquire()
        except StartFailed as exc:
            box._drop_group(key)
            raise _start_error(exc) from None
        except BaseException:
            box._drop_group(key)
            raise
        group.release(worker)
        remote = _RemoteModel(box, group, (group.info or {}).get("info") or {})
        explicit = inputs is not None
        if inputs is None:
            inputs = derive_inputs(remote)
        guards = _isolate_raw(inputs, box)
        super().__init__(remote, Inputs(guards, split), outputs, on_reject, return_reports, split, explicit)
        # Workers serialize their own calls; the caller may call from many threads at once.
        object.__setattr__(self, "_ks_lock", contextlib.nullcontext())
        object.__setattr__(self, "_ks_box", box)
        object.__setattr__(self, "_ks_cleanup", None)
        object.__setattr__(self, "_ks_key", key)

    def _guarded(self, call: Callable[[Any], Any], x: Any, inputs: Inputs, return_reports: bool | None,
                 *, batch_of_one: bool = True) -> Any:  # fmt: skip
        screens, rest = inputs.screen(x, batch_of_one=batch_of_one)
        n, reports, keep = decide(screens, self._ks_on_reject)
        output = None
        if keep:
            model_input = inputs.assemble(x, screens, rest, keep)
            try:
                output = call(model_input)
            except _ModelFailure as failure:
                reports = [
                    _refused(r, failure.make(r.index)) if i in keep else r for i, r in enumerate(reports)
                ]
                if self._ks_on_reject == "raise":
                    raise_if_refused(reports)
                keep, output = [], None
            else:
                if self._ks_outputs is not None:
                    split = self._ks_output_split or "rows"
                    output, out_reports, _ = check_outputs(
                        self._ks_outputs, output, split=split, on_reject=self._ks_on_reject
                    )
                    reports = attach_outputs(reports, keep if n is not None else [0], out_reports)
        result = align(output, keep, n, self._ks_template)
        wanted = self._ks_return_reports if return_reports is None else return_reports
        return (result, reports) if wanted else result

    def __call__(self, x: Any, *args: Any, return_reports: bool | None = None, **kwargs: Any) -> Any:
        """``model(x)`` in a worker on sanitized inputs (numpy outputs)."""
        remote = self._ks_model
        return self._guarded(lambda xc: remote(xc, **kwargs), x, self._ks_inputs, return_reports)

    @property
    def sandbox(self) -> Sandbox:
        """The :class:`Sandbox` whose workers hold the model."""
        box: Sandbox = self._ks_box
        return box

    def isolation(self) -> dict[str, bool]:
        """The layers in force in the model's workers (see :meth:`Sandbox.isolation`)."""
        info = self._ks_model.group.info or {}
        iso = info.get("isolation", {})
        from keras_sanitize.sandbox._limits import LAYERS

        return {layer: bool(iso.get(layer, False)) for layer in LAYERS}

    def close(self) -> None:
        """Stop the model's workers (the sandbox itself stays open for its other users)."""
        self._ks_box._drop_group(self._ks_key)
        if self._ks_cleanup is not None:
            shutil.rmtree(self._ks_cleanup, ignore_errors=True)

    def __enter__(self) -> SandboxedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SandboxedModel on_reject={self._ks_on_reject!r} sandbox={self._ks_box!r}>"


def _refused(report: Report, finding: Finding) -> Report:
    return Report(False, None, (*report.findings, finding), report.timings, report.modality, report.index)


def _start_error(exc: StartFailed) -> Exception:
    if exc.kind == "ArtifactError" or exc.report is not None:
        return ArtifactError(str(exc), exc.report)
    return ArtifactError(f"the sandboxed model could not be loaded: {exc}")


def sandboxed(model: Any, inputs: Any, outputs: Any, on_reject: str, return_reports: bool,
              split: str | None, sandbox: Any) -> SandboxedModel:  # fmt: skip
    """``ks.wrap(..., sandbox=...)``: a model path, or a Keras model saved to a private copy first."""
    if isinstance(model, (str, os.PathLike)):
        return SandboxedModel(model, inputs=inputs, sandbox=sandbox, outputs=outputs, on_reject=on_reject,
                              return_reports=return_reports, split=split)  # fmt: skip
    if not hasattr(model, "save"):
        raise ConfigError(f"wrap(sandbox=...): model must be a .keras path or a Keras model. Received: "
                          f"{model!r:.120}")  # fmt: skip
    from keras_sanitize.artifacts import sha256

    tmp = tempfile.mkdtemp(prefix="ks_sandboxed_model_")
    try:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        safe = SandboxedModel(path, sha256=sha256(path), inputs=inputs, sandbox=sandbox, outputs=outputs,
                              on_reject=on_reject, return_reports=return_reports, split=split)  # fmt: skip
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    object.__setattr__(safe, "_ks_cleanup", tmp)
    return safe
