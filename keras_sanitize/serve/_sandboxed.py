"""The sandbox backend: a model in :class:`keras_sanitize.sandbox.SandboxedModel` workers.

Each backend owns one :class:`~keras_sanitize.sandbox.Sandbox` (its own zygote,
pipeline workers and model workers), so two (tenant, model) pairs never share a
process unless the model is ``shared``. The model file is loaded (pinned,
scanned, ``safe_mode``) inside the workers; the server process never imports
the model. Image and audio decoding also runs in the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import threading
import zipfile
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report

from ._backend import TensorInfo, as_outputs, build_pipeline
from ._config import ModelConfig
from ._protocol import DATATYPES

__all__ = ["SandboxBackend"]

_V2_OF = {v: k for k, v in DATATYPES.items() if k != "BYTES"}
_MAX_CONFIG = 64 << 20
#: Findings that mean a worker died (and was replaced) on this call.
DEATH_CODES = ("sandbox.crashed", "sandbox.memory_exceeded", "sandbox.timeout", "sandbox.forbidden_syscall")


def file_layout(path: str) -> tuple[list[tuple[str, tuple[int | None, ...], str]], list[str]]:
    """Input specs (name, shape, dtype) and output layer names from a ``.keras`` file's config.json.

    Read without Keras (the model itself is loaded only inside the workers);
    empty lists when the config does not say.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > _MAX_CONFIG:
                return [], []
            doc = json.loads(zf.read(info))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return [], []
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        return [], []
    cfg: dict[str, Any] = doc["config"]
    layers = cfg.get("layers")
    if not isinstance(layers, list) or not layers:
        return [], []
    inputs = []
    for layer in layers:
        if isinstance(layer, dict) and layer.get("class_name") == "InputLayer":
            c = layer.get("config") or {}
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            if isinstance(shape, list):
                dims = tuple(d if isinstance(d, int) else None for d in shape)
                inputs.append((str(c.get("name", "input")), dims, str(c.get("dtype", "float32"))))
    outs = cfg.get("output_layers")
    if isinstance(outs, list) and outs and all(isinstance(o, list) and o for o in outs):
        names = [str(o[0]) for o in outs]
    elif doc.get("class_name") == "Sequential" and isinstance(layers[-1], dict):
        names = [str((layers[-1].get("config") or {}).get("name", "output_0"))]
    else:
        names = []
    return inputs, names


def _dtype(value: Any) -> str:
    if isinstance(value, dict):  # Keras 3 serializes DTypePolicy objects
        value = (value.get("config") or {}).get("name", "float32")
    return str(value).replace("mixed_", "")


class _Shape:
    """A stand-in with ``.inputs`` for :func:`build_pipeline` (it reads the input shape only)."""

    def __init__(self, shape: tuple[int | None, ...]) -> None:
        self.inputs = [type("T", (), {"shape": shape})()]


class SandboxBackend:
    """A model run by :class:`~keras_sanitize.sandbox.SandboxedModel` in its own :class:`Sandbox`."""

    kind = "sandbox"

    def __init__(self, cfg: ModelConfig) -> None:
        import keras_sanitize as ks

        file_inputs, out_names = file_layout(cfg.path)
        if len(file_inputs) > 1:
            raise ConfigError(
                f"[models.{cfg.name}] the server takes single-input models; this one has "
                f"{len(file_inputs)} inputs"
            )
        pipeline = None
        if cfg.inputs != "tensor":
            if cfg.inputs == "image" and not file_inputs:
                raise ConfigError(f"[models.{cfg.name}] cannot read the input shape from {cfg.path}")
            shape = file_inputs[0][1] if file_inputs else (None,)
            pipeline = build_pipeline(cfg, _Shape(shape))
        self._box = ks.sandbox.Sandbox(
            workers=cfg.workers,
            memory_mb=cfg.memory_mb,
            cpu_seconds=cfg.cpu_seconds,
            timeout=cfg.timeout,
            network=False,
        )
        try:
            self._model = ks.sandbox.SandboxedModel(
                cfg.path,
                sha256=cfg.sha256,
                inputs=pipeline,
                sandbox=self._box,
                on_reject="skip",
                return_reports=True,
            )
        except BaseException:
            self._box.close()
            raise
        remote = self._model._ks_model
        self.modality = cfg.inputs if cfg.policy_file is None else "policy"
        spec = remote.inputs[0]
        if cfg.inputs == "tensor":
            dims = tuple(-1 if d is None else int(d) for d in spec.shape)
            self.inputs = (TensorInfo(str(spec.name), _V2_OF.get(_dtype(spec.dtype), "FP32"), dims),)
        else:
            self.inputs = (TensorInfo(str(spec.name), "BYTES", (-1,)),)
        outs = list(remote.outputs or [])
        names = out_names if len(out_names) == len(outs) else [str(o.name) for o in outs]
        self.outputs = tuple(
            TensorInfo(
                n, _V2_OF.get(_dtype(o.dtype), "FP32"), tuple(-1 if d is None else int(d) for d in o.shape)
            )
            for n, o in zip(names, outs)
        )
        self._names = [o.name for o in self.outputs]
        self._restarts = 0
        self._repairing = threading.Lock()
        self._closed = False
        if cfg.inputs == "tensor" and all(d > 0 for d in self.inputs[0].shape[1:]):
            # compile once now, not on a tenant's first request
            self.infer(np.zeros((1, *self.inputs[0].shape[1:]), np.dtype(DATATYPES[self.inputs[0].datatype])))

    # -- health --------------------------------------------------------------------------------
    def _workers(self) -> list[Any]:
        group = self._model._ks_model.group
        with group.cond:
            return list(group.all)

    @staticmethod
    def _up(worker: Any) -> bool:
        if not worker.alive:
            return False
        try:
            with open(f"/proc/{worker.pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in (b"Z", b"X")

    def ready(self) -> bool:
        """True while at least one model worker is up; a dead idle worker is replaced in the background."""
        if self._closed:
            return False
        workers = self._workers()
        up = [w for w in workers if self._up(w)]
        if len(up) < len(workers) and not self._repairing.locked():
            threading.Thread(target=self._repair, name="ks-serve-repair", daemon=True).start()
        return bool(up) and not self._repairing.locked()

    def _repair(self) -> None:
        if not self._repairing.acquire(blocking=False):
            return
        try:
            group = self._model._ks_model.group
            with group.cond:
                dead = [w for w in group.idle if not self._up(w)]
                for w in dead:
                    group.idle.remove(w)
            for w in dead:
                group.discard(w)  # reaps it and starts a replacement
                self._restarts += 1
            if dead and not self._closed:
                with contextlib.suppress(Exception):
                    group.release(group.acquire())  # wait until the replacement has loaded the model
        finally:
            self._repairing.release()

    def restarts(self) -> int:
        """Workers replaced: after a death during a call, or found dead by the health check."""
        return self._restarts

    def isolation(self) -> dict[str, bool]:
        """The sandbox layers in force in the model's workers."""
        return dict(self._model.isolation())

    def pids(self) -> list[int]:
        """The model workers' process ids."""
        return [w.pid for w in self._workers()]

    # -- calls -----------------------------------------------------------------------------------
    def infer(self, x: Any) -> tuple[list[tuple[str, np.ndarray]], list[Report]]:
        """Sanitize ``x`` (decoders in the sandbox) and predict in a model worker."""
        out, reports = self._model.predict_on_batch(x)
        if any(f.code in DEATH_CODES for r in reports for f in r.findings):
            self._restarts += 1
        return as_outputs(self._names, out), list(reports)

    def close(self) -> None:
        """Stop the model's workers and the sandbox."""
        self._closed = True
        with contextlib.suppress(Exception):
            self._model.close()
        self._box.close()
