"""``ks.layers``: sanitization that travels inside a saved Keras model.

Backend-agnostic Keras layers written with ``keras.ops`` only (JAX, torch and
TensorFlow), registered as ``keras_sanitize>Name`` so that a model holding them
saves to ``.keras`` and reloads with ``safe_mode=True`` once
``keras_sanitize.layers`` is imported. They have no weights: their config is
the whole layer.

* :class:`TensorGuard` - non-finite values to a fill value, then clip.
* :class:`SqueezeBits` - quantize to ``2**bits`` levels (feature squeezing).
* :class:`MedianSmoothing` - a ``size x size`` (or ``size``) median filter,
  computed with a min/max selection network.
* :class:`LowPass` - a windowed-sinc FIR low-pass filter for audio.
* :class:`ImageNormalize`, :class:`Standardize`, :class:`PeakNormalize` and
  :class:`RemoveDC` - the image and audio normalizations that fit in a graph.

Like Keras's own preprocessing layers they switch to TensorFlow ops inside a
``tf.data`` pipeline (Keras's ``DataLayer``).

Example:
    >>> import keras, numpy as np, keras_sanitize as ks
    >>> model = keras.Sequential([
    ...     keras.Input((8, 8, 3)),
    ...     ks.layers.TensorGuard(min_value=0.0, max_value=1.0),
    ...     ks.layers.MedianSmoothing(3),
    ...     ks.layers.SqueezeBits(4),
    ... ])
    >>> x = np.full((1, 8, 8, 3), 0.5, "float32"); x[0, 0, 0, 0] = np.nan
    >>> bool(np.isfinite(model.predict(x, verbose=0)).all())
    True
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.integrations._layer_ops import (
    SanitizeLayer,
    edge_pad,
    example_axes,
    fir_lowpass,
    range_args,
    shifted,
)
from keras_sanitize.integrations._sortnet import apply_network, median_network
from keras_sanitize.stage import check_choice, check_number

_PACKAGE = "keras_sanitize"

__all__ = [
    "ImageNormalize",
    "LowPass",
    "MedianSmoothing",
    "PeakNormalize",
    "RemoveDC",
    "SqueezeBits",
    "Standardize",
    "TensorGuard",
]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TensorGuard(SanitizeLayer):
    """Replace NaN and +/-Inf with ``fill_value``, then clip into ``[min_value, max_value]``.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> guard = ks.layers.TensorGuard(min_value=0.0, max_value=1.0)
        >>> np.asarray(guard(np.array([[np.nan, 2.0, -np.inf, 0.5]]))).tolist()
        [[0.0, 1.0, 0.0, 0.5]]
    """

    def __init__(
        self,
        min_value: float | None = None,
        max_value: float | None = None,
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        range_args(owner, min_value, max_value)
        check_number(owner, "fill_value", fill_value)
        if not math.isfinite(fill_value):
            raise ConfigError(f"{owner}: fill_value must be finite. Received: fill_value={fill_value!r}")
        self.min_value = None if min_value is None else float(min_value)
        self.max_value = None if max_value is None else float(max_value)
        self.fill_value = float(fill_value)

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        x = ops.where(ops.isfinite(x), x, ops.cast(self.fill_value, x.dtype))
        if self.min_value is not None or self.max_value is not None:
            lo = -math.inf if self.min_value is None else self.min_value
            hi = math.inf if self.max_value is None else self.max_value
            x = ops.clip(x, lo, hi)
        return x

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(min_value=self.min_value, max_value=self.max_value, fill_value=self.fill_value)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SqueezeBits(SanitizeLayer):
    """Quantize values in ``[min_value, max_value]`` to ``2**bits`` levels.

    Feature squeezing (Xu et al., 2018): small adversarial perturbations fall
    between levels and vanish. Values are clipped into the range first; put a
    :class:`TensorGuard` before it to handle NaN.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> np.asarray(ks.layers.SqueezeBits(1)(np.array([[0.2, 0.7, 3.0]]))).tolist()
        [[0.0, 1.0, 1.0]]
    """

    def __init__(self, bits: int = 5, min_value: float = 0.0, max_value: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.bits = int(check_number(owner, "bits", bits, minimum=1, maximum=16, integer=True))
        range_args(owner, min_value, max_value)
        if min_value is None or max_value is None or not min_value < max_value:
            raise ConfigError(
                f"{owner}: min_value < max_value is required. Received: min_value={min_value}, "
                f"max_value={max_value}"
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = ops.clip(self._float(ops, inputs), self.min_value, self.max_value)
        levels = float(2**self.bits - 1)
        span = self.max_value - self.min_value
        x = ops.round((x - self.min_value) * (levels / span))
        return x * (span / levels) + self.min_value

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(bits=self.bits, min_value=self.min_value, max_value=self.max_value)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MedianSmoothing(SanitizeLayer):
    """Median filter over a ``size x size`` window (images) or ``size`` samples (audio).

    Rank-4 inputs are images (``data_format`` decides where channels are);
    rank-3 ``(batch, time, channels)`` and rank-2 ``(batch, time)`` inputs are
    filtered along time. Borders repeat the edge values. The median is taken
    with a min/max selection network over shifted copies: elementwise ops that
    every backend fuses, no patches tensor and no sort.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> x = np.zeros((1, 5, 5, 1), "float32"); x[0, 2, 2, 0] = 9.0  # salt noise
        >>> float(np.asarray(ks.layers.MedianSmoothing(3)(x)).max())
        0.0
    """

    def __init__(self, size: int = 3, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.size = int(check_number(owner, "size", size, minimum=1, maximum=15, integer=True))
        if self.size % 2 == 0:
            raise ConfigError(f"{owner}: size must be odd (a centred window). Received: size={size}")
        fmt = data_format or keras.config.image_data_format()
        self.data_format = check_choice(owner, "data_format", fmt, ("channels_last", "channels_first"))

    def _axes(self, rank: int) -> tuple[int, ...]:
        if rank == 4:
            return (1, 2) if self.data_format == "channels_last" else (2, 3)
        if rank == 3:
            return (1,) if self.data_format == "channels_last" else (2,)
        if rank == 2:
            return (1,)
        raise ValueError(
            f"MedianSmoothing needs (batch, h, w, c), (batch, time, c) or (batch, time) input. "
            f"Received: rank {rank}"
        )

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        if self.size == 1:
            return x
        axes = self._axes(len(x.shape))
        r = self.size // 2
        for axis in axes:
            x = edge_pad(ops, x, axis, r)
        views = shifted(x, axes, self.size)
        steps = median_network(len(views))
        return apply_network(steps, views, ops.minimum, ops.maximum)[len(views) // 2]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(size=self.size, data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LowPass(SanitizeLayer):
    """Low-pass FIR filter for audio: removes content above ``cutoff_hz``.

    Takes ``(batch, time)`` or ``(batch, time, channels)`` and filters each
    channel with the same windowed-sinc kernel through ``keras.ops.depthwise_conv``
    (``"same"`` padding, so the length is kept). Ultrasonic and high-frequency
    adversarial perturbations lose their energy.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> t = np.arange(1600) / 16000
        >>> x = np.sin(2 * np.pi * 6000 * t)[None].astype("float32")
        >>> y = np.asarray(ks.layers.LowPass(1000, sample_rate=16000)(x))
        >>> bool(np.abs(y[0, 100:-100]).max() < 0.01)
        True
    """

    def __init__(self, cutoff_hz: float, sample_rate: int = 16000, num_taps: int = 63, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.sample_rate = int(check_number(owner, "sample_rate", sample_rate, minimum=1, integer=True))
        self.cutoff_hz = float(
            check_number(owner, "cutoff_hz", cutoff_hz, minimum=0.0, maximum=self.sample_rate / 2)
        )
        if not 0 < self.cutoff_hz < self.sample_rate / 2:
            raise ConfigError(
                f"{owner}: cutoff_hz must be in (0, sample_rate / 2 = {self.sample_rate / 2}). "
                f"Received: cutoff_hz={cutoff_hz}"
            )
        self.num_taps = int(check_number(owner, "num_taps", num_taps, minimum=3, maximum=1023, integer=True))
        if self.num_taps % 2 == 0:
            raise ConfigError(f"{owner}: num_taps must be odd (zero phase). Received: num_taps={num_taps}")
        self._taps = fir_lowpass(self.cutoff_hz, self.sample_rate, self.num_taps)

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        rank = len(x.shape)
        if rank not in (2, 3):
            raise ValueError(f"LowPass needs (batch, time) or (batch, time, channels). Received: rank {rank}")
        if rank == 2:
            x = ops.expand_dims(x, -1)
        channels = int(x.shape[-1])
        kernel = np.tile(self._taps[:, None, None], (1, channels, 1))
        y = ops.depthwise_conv(x, ops.convert_to_tensor(kernel, dtype=x.dtype), padding="same")
        return ops.squeeze(y, -1) if rank == 2 else y

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(cutoff_hz=self.cutoff_hz, sample_rate=self.sample_rate, num_taps=self.num_taps)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeakNormalize(SanitizeLayer):
    """Scale each example so that its largest absolute value is ``peak``.

    Near-silent examples (peak below ``epsilon``) are left as they are rather
    than blown up.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> np.asarray(ks.layers.PeakNormalize()(np.array([[0.125, -0.5, 0.25]]))).tolist()
        [[0.25, -1.0, 0.5]]
    """

    def __init__(self, peak: float = 1.0, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.peak = float(check_number(owner, "peak", peak, minimum=0.0))
        self.epsilon = float(check_number(owner, "epsilon", epsilon, minimum=0.0))

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        top = ops.max(ops.abs(x), axis=example_axes(x), keepdims=True)
        scale = ops.where(top > self.epsilon, self.peak / ops.maximum(top, self.epsilon), 1.0)
        return x * ops.cast(scale, x.dtype)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(peak=self.peak, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Standardize(SanitizeLayer):
    """Per-example zero mean, unit variance (like ``tf.image.per_image_standardization``).

    The standard deviation is floored at ``1 / sqrt(elements)`` so that flat
    examples do not divide by zero.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> y = np.asarray(ks.layers.Standardize()(np.array([[1.0, 2.0, 3.0, 4.0]])))
        >>> round(float(y.mean()), 6), round(float(y.std()), 4)
        (0.0, 1.0)
    """

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        axes = example_axes(x)
        count = (
            float(np.prod([int(d) for d in x.shape[1:]])) if all(d is not None for d in x.shape[1:]) else 1.0
        )
        mean = ops.mean(x, axis=axes, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=axes, keepdims=True))
        return (x - mean) / ops.maximum(std, 1.0 / math.sqrt(max(count, 1.0)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImageNormalize(SanitizeLayer):
    """Pixels in ``[0, 255]`` to ``value_range``, then ``(x - mean) / std`` per channel.

    The in-graph twin of ``ks.image.default(value_range=..., mean=..., std=...)``'s
    array encoder, for models that take raw ``uint8`` images: values are first
    clipped into ``[0, 255]``, so out-of-range or crafted inputs cannot leave
    the range the model was trained on.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> norm = ks.layers.ImageNormalize(value_range=(-1.0, 1.0))
        >>> np.asarray(norm(np.array([[[[0.0, 127.5, 300.0]]]], "float32"))).tolist()
        [[[[-1.0, 0.0, 1.0]]]]
    """

    def __init__(
        self,
        value_range: tuple[float, float] | list[float] = (0.0, 1.0),
        mean: float | list[float] | tuple[float, ...] | None = None,
        std: float | list[float] | tuple[float, ...] | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        rng = _floats(owner, "value_range", value_range)
        if rng is None or len(rng) != 2 or not rng[0] < rng[1]:
            raise ConfigError(
                f"{owner}: value_range must be (low, high) with low < high. Received: {value_range!r}"
            )
        self.value_range = (rng[0], rng[1])
        self.mean = _floats(owner, "mean", mean)
        self.std = _floats(owner, "std", std)
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ConfigError(f"{owner}: std must be > 0. Received: std={std!r}")
        fmt = data_format or keras.config.image_data_format()
        self.data_format = check_choice(owner, "data_format", fmt, ("channels_last", "channels_first"))

    def _per_channel(self, ops: Any, values: list[float], x: Any) -> Any:
        shape = [1] * len(x.shape)
        shape[-1 if self.data_format == "channels_last" else 1] = len(values)
        return ops.reshape(ops.convert_to_tensor(np.array(values, "float32"), dtype=x.dtype), shape)

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = ops.clip(self._float(ops, inputs), 0.0, 255.0)
        low, high = self.value_range
        x = x * ((high - low) / 255.0) + low
        if self.mean is not None:
            x = x - self._per_channel(ops, self.mean, x)
        if self.std is not None:
            x = x / self._per_channel(ops, self.std, x)
        return x

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            value_range=list(self.value_range),
            mean=self.mean,
            std=self.std,
            data_format=self.data_format,
        )
        return config


def _floats(owner: str, name: str, value: Any) -> list[float] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (int, float)) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(
            f"{owner}: {name} must be a number or a list of numbers. Received: {name}={value!r}"
        )
    out = []
    for item in items:
        check_number(owner, name, item)
        if not math.isfinite(item):
            raise ConfigError(f"{owner}: {name} must be finite. Received: {name}={value!r}")
        out.append(float(item))
    return out


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RemoveDC(SanitizeLayer):
    """Subtract each example's mean over time (per channel): removes a DC offset.

    Takes ``(batch, time)`` or ``(batch, time, channels)``; the in-graph twin
    of the audio pipeline's ``RemoveDC`` filter.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> np.asarray(ks.layers.RemoveDC()(np.array([[1.5, 0.5, 1.0]]))).tolist()
        [[0.5, -0.5, 0.0]]
    """

    def call(self, inputs: Any) -> Any:
        ops = self._ops()
        x = self._float(ops, inputs)
        return x - ops.mean(x, axis=1, keepdims=True)
