"""The probed target: a Keras model, a wrapped model or a batch callable, called defensively.

Every call runs in a daemon thread with a per-call timeout. A target that raises,
hangs, returns NaN/Inf or the wrong shape becomes an :class:`Outcome` with a
``probe.*`` code, never an exception out of the probe. After a timeout the target
is not called again (its thread may still be running).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import echo

__all__ = ["Outcome", "Target", "is_keras_model"]

_CHUNK = 32


@dataclass(frozen=True)
class Outcome:
    """The target's answer on one item: an output, or a failure code and message."""

    output: Any = None
    code: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code is None


def is_keras_model(obj: Any) -> bool:
    """Whether ``obj`` is a Keras model (without importing Keras for a plain callable)."""
    if not type(obj).__module__.startswith("keras"):
        return False
    import keras

    return isinstance(obj, keras.Model)


def _call_with_timeout(fn: Callable[[Any], Any], arg: Any, timeout: float) -> tuple[str, Any]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the target's own warnings are not the probe's
                box["value"] = fn(arg)
        except BaseException as exc:  # the target's own failure, reported as data
            box["error"] = exc

    thread = threading.Thread(target=run, name="ks-probe-target", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return "timeout", None
    if "error" in box:
        return "error", box["error"]
    return "ok", box.get("value")


class Target:
    """A defensive adapter around what the user wants probed.

    Args:
        target: a Keras model, a ``ks.wrap``-ped model or a callable on a batch.
        modality: the probe's modality.
        timeout: seconds per call before the target counts as hung.
        input_shape: per-item input shape; inferred from a Keras model.
    """

    def __init__(self, target: Any, modality: str, timeout: float, input_shape: Sequence[int] | None) -> None:
        from keras_sanitize.integrations.wrap import SanitizedModel

        self.pipeline: Any = None
        if isinstance(target, SanitizedModel):
            inputs = target._ks_inputs
            if inputs.kind == "single":
                self.pipeline = next(iter(inputs.guards.values()))
            target = target.wrapped
        if not callable(target):
            raise ConfigError(
                f"probe: target must be a Keras model or a callable. Received: target={target!r:.80}"
            )
        self.model = target
        self.keras = is_keras_model(target)
        self.modality = modality
        self.timeout = timeout
        self.hung = False
        self.out_shape: tuple[int, ...] | None = None
        self.text_outputs = False
        self.name = (
            getattr(target, "name", None) or getattr(target, "__name__", None) or type(target).__name__
        )
        shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        if shape is None and self.keras:
            dims = tuple(target.inputs[0].shape)[1:] if getattr(target, "inputs", None) else ()
            if dims and all(d is not None for d in dims):
                shape = tuple(int(d) for d in dims)
        self.shape = shape
        self._probs: bool | None = None
        self._grad: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    # -- calling --------------------------------------------------------------
    def _raw_call(self, batch: Any) -> Any:
        if not self.keras:
            return self.model(batch)
        if self.modality == "text":  # a generative Keras model (KerasHub CausalLM): prompts in, text out
            generate = getattr(self.model, "generate", None)
            out = generate(list(batch)) if callable(generate) else self.model(batch)
            return [out] if isinstance(out, str) else out
        n = len(batch)
        size = min(_CHUNK, 1 << max(0, (n - 1).bit_length()))
        pad = np.concatenate([batch, np.repeat(batch[-1:], size - n, axis=0)]) if n < size else batch
        return np.asarray(self.model.predict_on_batch(pad))[:n]

    def __call__(self, items: Sequence[Any]) -> list[Outcome]:
        """Outcomes for ``items`` (inputs ready for the model), in order."""
        out: list[Outcome] = []
        for start in range(0, len(items), _CHUNK):
            out += self._call_chunk(list(items[start : start + _CHUNK]))
        return out

    def _call_chunk(self, items: list[Any]) -> list[Outcome]:
        if self.hung:
            return [
                Outcome(code="probe.target_timeout", message="not called: the target hung earlier")
            ] * len(items)
        if not items:
            return []
        batch: Any = list(items) if self.modality == "text" else self._stack(items)
        if batch is None:  # ragged arrays: one call per item
            return [o for item in items for o in self._call_chunk_one(item)]
        status, value = _call_with_timeout(self._raw_call, batch, self.timeout)
        if status == "timeout":
            self.hung = True
            msg = f"the target did not answer within {self.timeout:g} s (timeout); it is not called again"
            return [Outcome(code="probe.target_timeout", message=msg)] * len(items)
        if status == "error":
            if len(items) > 1:
                return [o for item in items for o in self._call_chunk_one(item)]
            return [
                Outcome(code="probe.target_raised", message=f"{type(value).__name__}: {echo(str(value))}")
            ]
        return self._check(value, len(items))

    def _call_chunk_one(self, item: Any) -> list[Outcome]:
        if self.modality == "text":
            return self._single([item])
        try:
            arr = np.asarray(item)[None]
        except Exception as exc:
            return [Outcome(code="probe.target_raised", message=f"{type(exc).__name__}: {echo(str(exc))}")]
        return self._single(arr)

    def _single(self, batch: Any) -> list[Outcome]:
        if self.hung:
            return [Outcome(code="probe.target_timeout", message="not called: the target hung earlier")]
        status, value = _call_with_timeout(self._raw_call, batch, self.timeout)
        if status == "timeout":
            self.hung = True
            return [
                Outcome(
                    code="probe.target_timeout",
                    message=f"the target did not answer within {self.timeout:g} s (timeout)",
                )
            ]
        if status == "error":
            return [
                Outcome(code="probe.target_raised", message=f"{type(value).__name__}: {echo(str(value))}")
            ]
        return self._check(value, 1)

    @staticmethod
    def _stack(items: list[Any]) -> np.ndarray | None:
        try:
            arrays = [np.asarray(i) for i in items]
        except Exception:
            return None
        if len({(a.shape, a.dtype) for a in arrays}) != 1:
            return None
        return np.stack(arrays)

    def _check(self, value: Any, n: int) -> list[Outcome]:
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            self.text_outputs = True
            if len(value) != n:
                return [self._bad_shape(f"{len(value)} strings for a batch of {n}")] * n
            return [Outcome(output=v) for v in value]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.asarray(value, dtype=np.float64)
        except Exception:
            return [self._bad_shape(f"a non-numeric output {echo(value)}")] * n
        if arr.ndim == 0 or arr.shape[0] != n:
            return [self._bad_shape(f"output shape {arr.shape} for a batch of {n}")] * n
        per_item = tuple(arr.shape[1:])
        if self.out_shape is None:
            self.out_shape = per_item
        elif per_item != self.out_shape:
            return [self._bad_shape(f"per-item output shape {per_item}, earlier {self.out_shape}")] * n
        out = []
        for row in arr:
            if not np.all(np.isfinite(row)):
                bad = int(np.count_nonzero(~np.isfinite(row)))
                out.append(
                    Outcome(
                        code="probe.target_non_finite",
                        message=f"outputs must be finite; received {bad} NaN/Inf values",
                    )
                )
            else:
                out.append(Outcome(output=row.reshape(-1)))
        return out

    @staticmethod
    def _bad_shape(what: str) -> Outcome:
        return Outcome(
            code="probe.target_bad_shape", message=f"the output must have one row per input; received {what}"
        )

    # -- gradients (FGSM, PGD) --------------------------------------------------
    def predict01(self, x: np.ndarray) -> np.ndarray:
        """Scores of the raw Keras model on float inputs in [0, 1] (for the gradient attacks)."""
        return np.asarray(self._raw_call(x.astype(np.float32)), dtype=np.float32).reshape(len(x), -1)

    def gradient(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """``grad(x, labels)``: d cross-entropy / dx on the backend Keras runs on; ``None`` for callables."""
        if not self.keras:
            return None
        if self._grad is None:
            self._grad = _keras_gradient(self.model)
        return self._grad


def _keras_gradient(model: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import keras
    from keras import ops

    state: dict[str, bool] = {}

    def loss_of(out: Any, labels: Any) -> Any:
        if "probs" not in state:
            o = np.asarray(ops.convert_to_numpy(out), dtype=np.float64)
            state["probs"] = bool(o.min() >= 0 and o.max() <= 1 and np.allclose(o.sum(axis=-1), 1, atol=1e-3))
        return ops.sum(
            keras.losses.sparse_categorical_crossentropy(labels, out, from_logits=not state["probs"])
        )

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def f(trainable: Any, frozen: Any, x: Any, labels: Any) -> Any:
            out, _ = model.stateless_call(trainable, frozen, x, training=False)
            return ops.sum(
                keras.losses.sparse_categorical_crossentropy(labels, out, from_logits=not state["probs"])
            )

        compiled: dict[bool, Any] = {}

        def grad_jax(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
            if "probs" not in state:
                loss_of(model(x[:1], training=False), labels[:1])
            key = state["probs"]
            if key not in compiled:
                compiled[key] = jax.jit(jax.grad(f, argnums=2))
            # read the variables at every call: Keras's JAX trainer swaps their buffers
            trainable = [v.value for v in model.trainable_variables]
            frozen = [v.value for v in model.non_trainable_variables]
            return np.asarray(compiled[key](trainable, frozen, x.astype(np.float32), labels.astype(np.int32)))

        return grad_jax
    if backend == "tensorflow":
        import tensorflow as tf

        def grad_tf(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
            xt = tf.convert_to_tensor(x.astype(np.float32))
            with tf.GradientTape() as tape:
                tape.watch(xt)
                loss = loss_of(model(xt, training=False), labels)
            return np.asarray(tape.gradient(loss, xt))

        return grad_tf
    if backend == "torch":
        import torch

        def grad_torch(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
            xt = torch.tensor(x.astype(np.float32), requires_grad=True)
            loss = loss_of(model(xt, training=False), torch.tensor(labels))
            loss.backward()
            assert xt.grad is not None
            return np.asarray(xt.grad.detach().cpu().numpy())

        return grad_torch
    raise ConfigError(
        f"probe: gradient attacks need the jax, tensorflow or torch backend; this is {backend!r}"
    )
