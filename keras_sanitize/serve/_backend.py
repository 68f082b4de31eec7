"""What runs a model for the server: a small interface, and the in-process implementation.

A backend owns one loaded model behind its input pipeline and answers
``infer(x) -> (outputs, reports)``: named output arrays (refused items' rows are
NaN) and one :class:`~keras_sanitize.Report` per item. The server creates one
backend per (tenant, model) pair, or one per model with ``shared = true``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report

from ._config import ModelConfig
from ._protocol import DATATYPES

__all__ = ["Backend", "InProcessBackend", "TensorInfo", "build_pipeline"]

_V2_OF = {v: k for k, v in DATATYPES.items() if k != "BYTES"}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's metadata as the protocol shows it (``-1`` for a free dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """The v2 metadata entry."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class Backend(Protocol):
    """Runs one model for the server (thread-safe ``infer``)."""

    kind: str
    modality: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def ready(self) -> bool:
        """Whether the model can answer now (its workers are up)."""

    def restarts(self) -> int:
        """How many times the model's workers were restarted."""

    def infer(self, x: Any) -> tuple[list[tuple[str, np.ndarray]], list[Report]]:
        """Sanitize and predict a batch; refused items get NaN rows and a refusing report."""

    def close(self) -> None:
        """Release the model and its workers."""


def build_pipeline(cfg: ModelConfig, model: Any) -> Any:
    """The input pipeline ``cfg.inputs`` names, fitted to ``model``'s input spec (None: derived)."""
    import keras_sanitize as ks

    if cfg.policy_file is not None:
        return ks.Pipeline.from_file(cfg.policy_file)
    if cfg.inputs == "tensor":
        return None
    if cfg.inputs == "text":
        return ks.text.default()
    if cfg.inputs == "audio":
        return ks.audio.default(sample_rate=cfg.sample_rate)
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] not in (1, 3):
        raise ConfigError(
            f'[models.{cfg.name}] inputs = "image" needs a model taking (batch, height, width, 1 or 3) '
            f"images. Received input shape {shape}; use a policy file instead"
        )
    return ks.image.default(size=(shape[1], shape[2]), color_mode="L" if shape[3] == 1 else "RGB")


def _spec(model: Any, cfg: ModelConfig) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    ins = list(getattr(model, "inputs", None) or [])
    outs = list(getattr(model, "outputs", None) or [])
    if len(ins) != 1:
        raise ConfigError(
            f"[models.{cfg.name}] the server takes single-input models; this one has {len(ins)} inputs"
        )
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(outs):
        names = [getattr(getattr(t, "_keras_history", None), "operation", None) for t in outs]
        names = [getattr(op, "name", None) or f"output_{i}" for i, op in enumerate(names)]
    t = ins[0]
    if cfg.inputs == "tensor":
        dtype = _V2_OF.get(str(t.dtype), "FP32")
        info = TensorInfo(t.name, dtype, tuple(-1 if d is None else int(d) for d in t.shape))
    else:
        info = TensorInfo(t.name, "BYTES", (-1,))
    out_infos = tuple(
        TensorInfo(
            str(n), _V2_OF.get(str(o.dtype), "FP32"), tuple(-1 if d is None else int(d) for d in o.shape)
        )
        for n, o in zip(names, outs)
    )
    return (info,), out_infos


def as_outputs(names: Sequence[str], raw: Any) -> list[tuple[str, np.ndarray]]:
    """Pair a model's output(s) with their names."""
    if isinstance(raw, dict):
        return [(str(k), np.asarray(v)) for k, v in raw.items()]
    if isinstance(raw, (list, tuple)):
        return [(names[i] if i < len(names) else f"output_{i}", np.asarray(v)) for i, v in enumerate(raw)]
    return [(names[0] if names else "output_0", np.asarray(raw))]


class InProcessBackend:
    """The model loaded (``ks.load_model``, pinned) and wrapped (``ks.wrap``) in the server process.

    No isolation: a crash in Keras or a decoder takes the server down, and tenants
    share the process's memory. Use it for development, or where the sandbox
    backend is not available.
    """

    kind = "in-process"

    def __init__(self, cfg: ModelConfig) -> None:
        import keras_sanitize as ks

        model = ks.load_model(cfg.path, sha256=cfg.sha256)
        self.modality = cfg.inputs if cfg.policy_file is None else "policy"
        self.inputs, self.outputs = _spec(model, cfg)
        pipeline = build_pipeline(cfg, model)
        self._names = [o.name for o in self.outputs]
        self._safe = ks.wrap(model, inputs=pipeline, on_reject="skip", return_reports=True)
        self._closed = threading.Event()

    def ready(self) -> bool:
        """Ready until closed (the model lives in this process)."""
        return not self._closed.is_set()

    def restarts(self) -> int:
        """Always 0: nothing to restart in-process."""
        return 0

    def infer(self, x: Any) -> tuple[list[tuple[str, np.ndarray]], list[Report]]:
        """Sanitize ``x`` and predict the accepted items."""
        out, reports = self._safe.predict_on_batch(x)
        return as_outputs(self._names, out), list(reports)

    def close(self) -> None:
        """Mark the backend closed (``ready()`` turns false)."""
        self._closed.set()
