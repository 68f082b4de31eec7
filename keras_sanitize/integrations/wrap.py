"""``ks.wrap(model)``: a proxy that sanitizes what goes into (and comes out of) a Keras model.

A proxy, not a subclass: an overridden ``__call__``/``call`` runs once or never
per ``predict`` on the JAX and TensorFlow backends (the model is traced), and
swapping ``__class__`` breaks TensorFlow and reloading. The proxy sanitizes in
``predict``, ``__call__``, ``predict_on_batch`` and ``generate`` (when the model
has it) and delegates every other attribute to the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keras_sanitize.errors import ConfigError, InputRejected
from keras_sanitize.findings import Report
from keras_sanitize.integrations._batch import check_on_reject, check_stage_arg, decide, split_of
from keras_sanitize.integrations._inputs import (
    SINGLE,
    Inputs,
    input_specs,
    output_template,
    string_ranks,
    text_inputs,
)
from keras_sanitize.integrations._outputs import align, attach_outputs, check_outputs
from keras_sanitize.integrations._streams import batches, concat_pieces, is_stream, reindex
from keras_sanitize.stage import Stage

__all__ = ["SanitizedModel", "wrap"]


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
        inputs: Inputs,
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
        object.__setattr__(self, "_ks_template", output_template(model))
        # Keras's predict is not thread-safe (the JAX trainer detaches the model's
        # variables while it runs): sanitize concurrently, call the model one at a time.
        object.__setattr__(self, "_ks_lock", threading.RLock())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the model and the guards; the lock and output template are rebuilt."""
        return (
            SanitizedModel,
            (
                self._ks_model,
                self._ks_inputs,
                self._ks_outputs,
                self._ks_on_reject,
                self._ks_return_reports,
                self._ks_split,
                self._ks_explicit,
            ),
        )

    # -- the guarded call, shared by every method -------------------------------
    def _guarded(
        self,
        call: Callable[[Any], Any],
        x: Any,
        inputs: Inputs,
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
        if is_stream(x):
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
        for b, batch in enumerate(batches(data)):
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
                    [reindex(r, offset) for r in exc.reports],
                ) from None
            offset = len(reports)
            reports.extend(reindex(r, offset) for r in batch_reports)
            pieces.append(out)
        result = concat_pieces(pieces)
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
        inputs = self._ks_inputs if self._ks_explicit else text_inputs()
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
        guards = {str(k) if k != SINGLE else "x": type(g).__name__ for k, g in self._ks_inputs.guards.items()}
        return (
            f"<SanitizedModel {getattr(self._ks_model, 'name', type(self._ks_model).__name__)!r} "
            f"inputs={guards} outputs={type(self._ks_outputs).__name__ if self._ks_outputs else None} "
            f"on_reject={self._ks_on_reject!r}>"
        )


def wrap(
    model: Any,
    inputs: Stage | Mapping[str, Stage] | Sequence[Stage] | None = None,
    outputs: Stage | None = None,
    on_reject: str = "raise",
    *,
    return_reports: bool = False,
    split: str | None = None,
    sandbox: Any = None,
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
        sandbox: ``True`` or a :class:`keras_sanitize.sandbox.Sandbox`: load and run
            the model in sandbox workers (``model`` may then be a ``.keras`` path);
            returns a :class:`keras_sanitize.sandbox.SandboxedModel`.

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
    if sandbox is not None and sandbox is not False:
        from keras_sanitize.registry import extension

        sandboxed = extension("sandbox")._model.sandboxed
        boxed: SanitizedModel = sandboxed(model, inputs, outputs, on_reject, return_reports, split, sandbox)
        return boxed
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
        inputs = derive_inputs(model)
    guards = Inputs(inputs, split, string_ranks(model))
    _check_image_specs(model, guards)
    return SanitizedModel(model, guards, outputs, on_reject, return_reports, split, explicit)


def derive_inputs(model: Any) -> Any:
    """The input pipelines :func:`wrap` derives from ``model``'s input specs: one pipeline, or a
    list or dict of them for a model with several inputs (``ks.tensor.from_model``)."""
    from keras_sanitize.tensor import Structured, from_model

    derived = from_model(model)
    if isinstance(derived, Structured):
        pipes = derived.pipelines
        return dict(zip((str(k) for k in derived.keys), pipes)) if derived.named else list(pipes)
    return derived


def _check_image_specs(model: Any, guards: Inputs) -> None:
    """Compare each image pipeline's output with the model input it feeds, once, at wrap time."""
    specs = input_specs(model)
    if not specs:
        return
    from keras_sanitize.image._for_model import mismatches, model_image_spec, pipeline_image_spec

    problems: list[str] = []
    for key, guard in guards.guards.items():
        tensor = specs.get(key)
        pipe = pipeline_image_spec(guard)
        want = model_image_spec(tensor, model) if tensor is not None else None
        if pipe is None or want is None:
            continue
        where = "" if key == SINGLE else f"input {key!r}: "
        problems.extend(where + p for p in mismatches(pipe, want))
    if problems:
        raise ConfigError(
            "wrap: the input pipeline does not produce what the model takes:\n  - "
            + "\n  - ".join(problems)
            + "\n(or build the pipeline with ks.image.default(for_model=model))"
        )
