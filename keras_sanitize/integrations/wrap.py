"""``ks.wrap(model)``: a proxy that sanitizes what goes into (and comes out of) a Keras model.

A proxy, not a subclass: an overridden ``__call__``/``call`` runs once or never
per ``predict`` on the JAX and TensorFlow backends (the model is traced), and
swapping ``__class__`` breaks TensorFlow and reloading. The proxy sanitizes in
``predict``, ``__call__``, ``predict_on_batch`` and ``generate`` (when the model
has it) and delegates every other attribute to the model.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, InputRejected
from keras_sanitize.findings import Finding, Report, Severity, echo
from keras_sanitize.integrations._batch import (
    Screened,
    align,
    assemble,
    attach_outputs,
    check_on_reject,
    check_outputs,
    check_stage_arg,
    decide,
    fill_like,
    screen,
    split_of,
)
from keras_sanitize.stage import Stage

__all__ = ["SanitizedModel", "wrap"]

_SINGLE = "\x00x"  # key of the one input of a single-input model


def _structure_error(expected: str, value: Any) -> Screened:
    finding = Finding(
        "core.input_structure",
        f"the model takes {expected}; received {echo(value)}. Pass the inputs in the model's structure.",
        Severity.HIGH,
        stage="wrap",
        fatal=True,
    )
    return Screened(None, [Report(False, None, (finding,), {}, None, None)], [None], "items")


class _Inputs:
    """The input guards of a model: one pipeline, or one per named/positional input."""

    def __init__(self, guards: Stage | Mapping[str, Stage] | Sequence[Stage], split: str | None) -> None:
        if isinstance(guards, Stage):
            self.kind = "single"
            self.guards: dict[Any, Stage] = {_SINGLE: guards}
        elif isinstance(guards, Mapping):
            self.kind = "dict"
            self.guards = {str(k): check_stage_arg("wrap", f"inputs[{k!r}]", v) for k, v in guards.items()}
        elif isinstance(guards, Sequence) and not isinstance(guards, (str, bytes)):
            self.kind = "list"
            self.guards = {i: check_stage_arg("wrap", f"inputs[{i}]", v) for i, v in enumerate(guards)}
        else:
            raise ConfigError(
                f"wrap: inputs must be None, a pipeline, a dict of pipelines by input name, or a "
                f"list of pipelines. Received: inputs={guards!r:.120}"
            )
        if not self.guards:
            raise ConfigError("wrap: inputs must hold at least one pipeline")
        self.splits = {k: split_of(g, split) for k, g in self.guards.items()}

    def screen(self, x: Any, *, batch_of_one: bool = True) -> tuple[dict[Any, Screened], dict[Any, Any]]:
        """Screen every guarded input; also return the unguarded ones (passed through).

        With ``batch_of_one`` a lone raw item (one image's bytes) becomes a batch of
        one, since a model always takes a batch; ``generate`` keeps it single.
        """
        if self.kind == "single":
            split = self.splits[_SINGLE]
            if batch_of_one and split == "items" and not isinstance(x, (list, tuple, np.ndarray)):
                x = [x]
            return {_SINGLE: screen(self.guards[_SINGLE], x, split=split)}, {}
        if self.kind == "dict":
            if not isinstance(x, Mapping) or any(k not in x for k in self.guards):
                return {_SINGLE: _structure_error(f"a dict with keys {list(self.guards)}", x)}, {}
            parts = dict(x)
        else:
            if not isinstance(x, (list, tuple)) or len(x) < len(self.guards):
                return {_SINGLE: _structure_error(f"a list of {len(self.guards)} inputs", x)}, {}
            parts = dict(enumerate(x))
        screens = {k: screen(g, parts[k], split=self.splits[k], batched=True) for k, g in self.guards.items()}
        rest = {k: v for k, v in parts.items() if k not in self.guards}
        return screens, rest

    def assemble(self, x: Any, screens: dict[Any, Screened], rest: dict[Any, Any], keep: list[int]) -> Any:
        """The model's input built from the accepted items."""
        values = {k: assemble(s, keep, to_array=True) for k, s in screens.items()}
        if self.kind == "single":
            return values[_SINGLE]
        n = next(iter(screens.values())).n
        for k, v in rest.items():  # unguarded inputs: keep the same rows
            arr = v if isinstance(v, np.ndarray) else None
            values[k] = arr[keep] if arr is not None and n is not None and len(arr) == n else v
        if self.kind == "dict":
            return values
        out = [values[i] for i in range(len(values))]
        return tuple(out) if isinstance(x, tuple) else out


def _output_template(model: Any) -> Any:
    """Zero arrays shaped like one row of each model output (for all-refused batches)."""
    try:
        outputs = model.outputs
    except Exception:
        return None
    if not outputs:
        return None

    def one(t: Any) -> np.ndarray:
        shape = tuple(1 if d is None else int(d) for d in t.shape)
        return np.zeros((1, *shape[1:]), dtype=str(t.dtype))

    try:
        return one(outputs[0]) if len(outputs) == 1 else [one(t) for t in outputs]
    except Exception:
        return None


def _is_stream(x: Any) -> bool:
    """A generator, iterator, ``keras.utils.PyDataset``, ``tf.data.Dataset`` or loader."""
    if isinstance(x, (np.ndarray, list, tuple, Mapping, str, bytes, bytearray)) or hasattr(x, "shape"):
        return False
    if inspect.isgenerator(x) or hasattr(x, "__next__"):
        return True
    module = type(x).__module__ or ""
    if module.startswith("tensorflow") and hasattr(x, "as_numpy_iterator"):
        return True
    try:
        import keras

        if isinstance(x, keras.utils.PyDataset):
            return True
    except ImportError:  # pragma: no cover
        pass
    return hasattr(x, "__iter__")


def _batches(data: Any) -> Iterator[Any]:
    import keras

    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        i = 0
        while count is None or i < count:
            yield data[i]
            i += 1
        return
    if (type(data).__module__ or "").startswith("tensorflow") and hasattr(data, "as_numpy_iterator"):
        yield from data.as_numpy_iterator()
        return
    yield from data


def _concat_pieces(pieces: list[Any]) -> Any:
    arrays = [p for p in pieces if isinstance(p, np.ndarray)]
    if arrays and len(arrays) == len(pieces):
        return np.concatenate(pieces, axis=0)
    if arrays:  # some batches were refused whole before any output was seen
        pieces = [p if isinstance(p, np.ndarray) else fill_like(arrays[0], len(p)) for p in pieces]
        return np.concatenate(pieces, axis=0)
    if pieces and all(isinstance(p, Mapping) for p in pieces):
        return {k: _concat_pieces([p[k] for p in pieces]) for k in pieces[0]}
    out: list[Any] = []
    for p in pieces:
        out.extend(p if isinstance(p, (list, tuple)) else [p])
    return out


class SanitizedModel:
    """A Keras model behind input (and output) pipelines. Build it with :func:`wrap`.

    Every attribute other than the sanitizing methods is the model's own
    (``summary``, ``layers``, ``save``, ...); ``.wrapped`` is the model itself.
    Thread-safe: nothing is stored per call (ask a call for its reports with
    ``return_reports=True``); inputs are sanitized concurrently and the model
    itself is called by one thread at a time, because Keras's ``predict`` is not
    thread-safe.
    """

    def __init__(
        self,
        model: Any,
        inputs: _Inputs,
        outputs: Stage | None,
        on_reject: str,
        return_reports: bool,
        split: str | None,
        explicit_inputs: bool,
    ) -> None:
        object.__setattr__(self, "_ks_model", model)
        object.__setattr__(self, "_ks_inputs", inputs)
        object.__setattr__(self, "_ks_outputs", outputs)
        object.__setattr__(self, "_ks_output_split", split_of(outputs) if outputs is not None else None)
        object.__setattr__(self, "_ks_on_reject", on_reject)
        object.__setattr__(self, "_ks_return_reports", return_reports)
        object.__setattr__(self, "_ks_split", split)
        object.__setattr__(self, "_ks_explicit", explicit_inputs)
        object.__setattr__(self, "_ks_template", _output_template(model))
        # Keras's predict is not thread-safe (the JAX trainer detaches the model's
        # variables while it runs): sanitize concurrently, call the model one at a time.
        object.__setattr__(self, "_ks_lock", threading.RLock())

    # -- the guarded call, shared by every method -------------------------------
    def _guarded(
        self,
        call: Callable[[Any], Any],
        x: Any,
        inputs: _Inputs,
        return_reports: bool | None,
        *,
        batch_of_one: bool = True,
    ) -> Any:
        screens, rest = inputs.screen(x, batch_of_one=batch_of_one)
        n, reports, keep = decide(screens, self._ks_on_reject)
        output = None
        if keep:
            model_input = inputs.assemble(x, screens, rest, keep)
            with self._ks_lock:
                output = call(model_input)
            if self._ks_outputs is not None:
                split = self._ks_output_split or "rows"
                output, out_reports, _ = check_outputs(
                    self._ks_outputs, output, split=split, on_reject=self._ks_on_reject
                )
                reports = attach_outputs(reports, keep if n is not None else [0], out_reports)
        result = align(output, keep, n, self._ks_template)
        wanted = self._ks_return_reports if return_reports is None else return_reports
        return (result, reports) if wanted else result

    def _check_concrete(self, x: Any) -> None:
        import keras

        leaves = keras.tree.flatten(x) if isinstance(x, (Mapping, list, tuple)) else [x]
        if any(isinstance(leaf, keras.KerasTensor) for leaf in leaves):
            raise ConfigError(
                "wrap() sanitizes concrete inputs at call time; it cannot sit inside a functional "
                "model graph. Received a symbolic KerasTensor. Use ks.layers (TensorGuard, ...) "
                "to sanitize inside a model, or call the wrapped model on real data."
            )

    # -- sanitizing methods -------------------------------------------------------
    def predict(self, x: Any, *args: Any, return_reports: bool | None = None, **kwargs: Any) -> Any:
        """``model.predict`` on sanitized inputs; streams are sanitized batch by batch.

        ``x`` may be an array, a dict or list of arrays (multi-input models), a
        list of raw items (with a raw-modality pipeline), or a generator,
        iterator, ``keras.utils.PyDataset`` or ``tf.data.Dataset`` of batches.
        With ``return_reports=True`` returns ``(outputs, reports)``, one report
        per item.

        Example:
            >>> import keras, numpy as np, keras_sanitize as ks
            >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> safe = ks.wrap(model, on_reject="skip")
            >>> out = safe.predict(np.array([[1.0, 2.0], [np.nan, 0.0]]), verbose=0)
            >>> out.shape, bool(np.isnan(out[1]).all())
            ((2, 1), True)
        """
        model = self._ks_model
        if _is_stream(x):
            return self._predict_stream(x, args, kwargs, return_reports)
        return self._guarded(
            lambda xc: model.predict(xc, *args, **kwargs), x, self._ks_inputs, return_reports
        )

    def _predict_stream(
        self, data: Any, args: tuple[Any, ...], kwargs: dict[str, Any], return_reports: bool | None
    ) -> Any:
        model = self._ks_model
        steps = kwargs.pop("steps", None)
        kwargs.setdefault("verbose", 0)
        pieces: list[Any] = []
        reports: list[Report] = []
        for b, batch in enumerate(_batches(data)):
            if steps is not None and b >= steps:
                break
            # Keras's convention: a tuple of 1-3 is (x, y, sample_weight); a list is a multi-input x.
            x = batch[0] if isinstance(batch, tuple) and 1 <= len(batch) <= 3 else batch
            try:
                out, batch_reports = self._guarded(
                    lambda xc: model.predict(xc, *args, **kwargs), x, self._ks_inputs, True
                )
            except InputRejected as exc:
                offset = len(reports)
                raise InputRejected(
                    f"batch {b} (items from {offset}): {exc}",
                    exc.report,
                    [_reindex(r, offset) for r in exc.reports],
                ) from None
            offset = len(reports)
            reports.extend(_reindex(r, offset) for r in batch_reports)
            pieces.append(out)
        result = _concat_pieces(pieces)
        wanted = self._ks_return_reports if return_reports is None else return_reports
        return (result, reports) if wanted else result

    def predict_on_batch(self, x: Any, return_reports: bool | None = None) -> Any:
        """``model.predict_on_batch`` on sanitized inputs."""
        model = self._ks_model
        return self._guarded(model.predict_on_batch, x, self._ks_inputs, return_reports)

    def __call__(self, x: Any, *args: Any, return_reports: bool | None = None, **kwargs: Any) -> Any:
        """``model(x)`` on sanitized inputs (backend tensors; numpy once rows are refused)."""
        self._check_concrete(x)
        model = self._ks_model
        return self._guarded(lambda xc: model(xc, *args, **kwargs), x, self._ks_inputs, return_reports)

    def _generate(self, prompts: Any, *args: Any, return_reports: bool | None = None, **kwargs: Any) -> Any:
        model = self._ks_model
        inputs = self._ks_inputs if self._ks_explicit else _text_inputs()
        return self._guarded(
            lambda xc: model.generate(xc, *args, **kwargs),
            prompts,
            inputs,
            return_reports,
            batch_of_one=False,
        )

    # -- delegation ----------------------------------------------------------------
    @property
    def wrapped(self) -> Any:
        """The Keras model behind the proxy."""
        return self._ks_model

    def __getattr__(self, name: str) -> Any:
        try:
            model = object.__getattribute__(self, "_ks_model")
        except AttributeError:
            raise AttributeError(name) from None
        if name == "generate":
            getattr(model, "generate")  # noqa: B009 - AttributeError when the model has none
            return self._generate
        return getattr(model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ks_model, name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._ks_model)) | {"wrapped", "predict", "predict_on_batch"})

    def __repr__(self) -> str:
        guards = {
            str(k) if k != _SINGLE else "x": type(g).__name__ for k, g in self._ks_inputs.guards.items()
        }
        return (
            f"<SanitizedModel {getattr(self._ks_model, 'name', type(self._ks_model).__name__)!r} "
            f"inputs={guards} outputs={type(self._ks_outputs).__name__ if self._ks_outputs else None} "
            f"on_reject={self._ks_on_reject!r}>"
        )


def _reindex(report: Report, offset: int) -> Report:
    index = (report.index or 0) + offset
    findings = tuple(f.with_(index=index) for f in report.findings)
    return Report(report.ok, report.value, findings, report.timings, report.modality, index)


def _text_inputs() -> _Inputs:
    import importlib

    try:
        text = importlib.import_module("keras_sanitize.text")
    except ImportError as exc:  # the text modality is missing
        raise ConfigError(f"wrap: generate() needs inputs= (a text pipeline): {exc}") from None
    return _Inputs(text.default(), None)


def wrap(
    model: Any,
    inputs: Stage | Mapping[str, Stage] | Sequence[Stage] | None = None,
    outputs: Stage | None = None,
    on_reject: str = "raise",
    *,
    return_reports: bool = False,
    split: str | None = None,
) -> SanitizedModel:
    """Put input (and output) pipelines in front of a Keras model.

    Args:
        model: any Keras model (or an object with ``predict``).
        inputs: ``None`` derives a guard from the model's input spec
            (:func:`keras_sanitize.tensor.from_model`: shape, dtype, finite);
            a pipeline (e.g. ``ks.image.default(size=(224, 224))`` to turn raw
            image bytes into the arrays the model takes); a dict of pipelines
            by input name or a list by position for multi-input models.
            ``generate`` uses ``inputs`` when given, else ``ks.text.default()``.
        outputs: a pipeline run on what the model returns (e.g.
            ``ks.tensor.verifiers.ProbabilitySimplex()``, or a text pipeline for
            ``generate``); refused outputs raise :class:`~keras_sanitize.OutputRejected`
            or, with ``on_reject="skip"``, become NaN rows / ``None``.
        on_reject: ``"raise"`` or ``"skip"`` (see :func:`keras_sanitize.sanitize`).
        return_reports: default for the methods' ``return_reports``.
        split: how batches split into items, ``"rows"`` or ``"items"``
            (default: rows for tensor pipelines, items otherwise).

    Example:
        >>> import keras, numpy as np, keras_sanitize as ks
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> safe = ks.wrap(model)
        >>> safe.predict(np.zeros((4, 3), "float32"), verbose=0).shape
        (4, 2)
        >>> try:
        ...     safe.predict(np.zeros((4, 5), "float32"))
        ... except ks.InputRejected as exc:
        ...     print(exc.report.codes)
        ('tensor.shape',)
        >>> safe.layers[0].name == model.layers[0].name
        True
    """
    check_on_reject("wrap", on_reject)
    if not isinstance(return_reports, bool):
        raise ConfigError(f"wrap: return_reports must be a bool. Received: {return_reports!r}")
    if isinstance(model, SanitizedModel):
        raise ConfigError("wrap: the model is already wrapped; wrap the original (its .wrapped) instead")
    if not hasattr(model, "predict") and not callable(model):
        raise ConfigError(f"wrap: model must be a Keras model. Received: {model!r:.120}")
    if outputs is not None:
        check_stage_arg("wrap", "outputs", outputs)
    explicit = inputs is not None
    if inputs is None:
        from keras_sanitize.tensor import Structured, from_model

        derived = from_model(model)
        if isinstance(derived, Structured):
            pipes = derived.pipelines
            inputs = dict(zip((str(k) for k in derived.keys), pipes)) if derived.named else list(pipes)
        else:
            inputs = derived
    return SanitizedModel(model, _Inputs(inputs, split), outputs, on_reject, return_reports, split, explicit)
