"""Shared pieces of :mod:`keras_sanitize.integrations.layers`: base class and graph helpers."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.stage import check_number

__all__ = ["SanitizeLayer", "edge_pad", "example_axes", "fir_lowpass", "range_args", "shifted"]

try:  # Keras's base of its preprocessing layers: switches to TF ops inside tf.data
    from keras.src.layers.preprocessing.data_layer import DataLayer as _Base
except ImportError:  # pragma: no cover - older/newer Keras without it
    _Base = keras.layers.Layer


class _BackendOps:
    """``keras.ops``-like names over one backend module (used inside tf.data graphs)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        backend = self._backend
        if name in ("cast", "convert_to_tensor"):
            return getattr(backend, name)
        if name == "depthwise_conv":
            return backend.nn.depthwise_conv
        return getattr(backend.numpy, name)


class SanitizeLayer(_Base):  # type: ignore[misc, valid-type]
    """Shared base: weightless, shape-preserving, float compute dtype."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def _ops(self) -> Any:
        backend = getattr(self, "backend", None)
        if backend is not None and backend.name != keras.config.backend():
            return _BackendOps(backend)  # inside tf.data: the TF backend's ops
        return keras.ops

    def _float(self, ops: Any, inputs: Any) -> Any:
        return ops.cast(inputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def range_args(owner: str, min_value: Any, max_value: Any) -> None:
    for name, value in (("min_value", min_value), ("max_value", max_value)):
        check_number(owner, name, value, allow_none=True)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{owner}: {name} must be finite. Received: {name}={value!r}")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ConfigError(
            f"{owner}: min_value must be <= max_value. Received: min_value={min_value}, max_value={max_value}"
        )


def edge_pad(ops: Any, x: Any, axis: int, r: int) -> Any:
    """Repeat the edge values ``r`` times on both sides of ``axis`` (same on every backend)."""
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(0, 1)
    first = x[tuple(index)]
    index[axis] = slice(-1, None)
    last = x[tuple(index)]
    return ops.concatenate([ops.repeat(first, r, axis=axis), x, ops.repeat(last, r, axis=axis)], axis=axis)


def shifted(x: Any, axes: tuple[int, ...], size: int) -> list[Any]:
    """The ``size ** len(axes)`` shifted windows of an edge-padded tensor."""
    span = size - 1
    views = [x]
    for axis in axes:
        grown = []
        for view in views:
            for d in range(size):
                index = [slice(None)] * len(x.shape)
                index[axis] = slice(d, (d - span) or None)
                grown.append(view[tuple(index)])
        views = grown
    return views


def fir_lowpass(cutoff_hz: float, sample_rate: int, num_taps: int) -> np.ndarray:
    """Windowed-sinc (Hamming) low-pass taps with unit DC gain.

    Example:
        >>> taps = fir_lowpass(1000.0, 16000, 31)
        >>> taps.shape, round(float(taps.sum()), 6)
        ((31,), 1.0)
    """
    n = np.arange(num_taps, dtype=np.float64) - (num_taps - 1) / 2.0
    fc = cutoff_hz / sample_rate
    taps = 2.0 * fc * np.sinc(2.0 * fc * n) * np.hamming(num_taps)
    out: np.ndarray = (taps / taps.sum()).astype(np.float32)
    return out


def example_axes(x: Any) -> list[int]:
    return list(range(1, len(x.shape)))
