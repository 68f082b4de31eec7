"""Image verifiers: cheap content statistics and a feature-squeezing adversarial detector.

* :class:`ContentStats`: constant images, NaN/Inf, values outside the range the
  encoder promised.
* :class:`FeatureSqueezing`: Xu, Evans & Qi, "Feature Squeezing: Detecting
  Adversarial Examples in Deep Neural Networks" (NDSS 2018). The model's
  output on the input is compared with its outputs on squeezed copies
  (bit-depth reduction, median smoothing); adversarial perturbations are
  fragile under squeezing, so a large L1 distance flags them.
  :meth:`FeatureSqueezing.calibrate` sets the threshold from benign images at
  a chosen false-positive rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity
from keras_sanitize.image._limits import image_stage
from keras_sanitize.stage import Context, Verifier, check_choice, check_number

__all__ = ["SQUEEZER_CANDIDATES", "ContentStats", "FeatureSqueezing"]

#: The ``(bit_depth, median_size)`` settings ``FeatureSqueezing.calibrate(attacks=...)`` tries.
SQUEEZER_CANDIDATES: tuple[tuple[int, int], ...] = (
    (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (0, 2), (0, 3),
    (1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (1, 3), (4, 3),
)


def _as_array(ctx: Context, value: Any, stage: str) -> np.ndarray:
    if isinstance(value, Image.Image):
        return np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    ctx.halt(
        "image.not_decoded",
        f"{stage} needs a numeric image array or a PIL image; received "
        f"{type(value).__name__}. Put it after ToArray.",
    )


def _range(owner: str, value_range: Sequence[float] | None) -> tuple[float, float] | None:
    if value_range is None:
        return None
    if (
        isinstance(value_range, (str, bytes))
        or not isinstance(value_range, Sequence)
        or len(value_range) != 2
    ):
        raise ConfigError(f"{owner}: value_range must be (low, high). Received: value_range={value_range!r}")
    lo = float(check_number(owner, "value_range[0]", value_range[0]))
    hi = float(check_number(owner, "value_range[1]", value_range[1]))
    if not lo < hi:
        raise ConfigError(f"{owner}: value_range needs low < high. Received: value_range={value_range!r}")
    return lo, hi


@image_stage
class ContentStats(Verifier):
    """Cheap statistics of the encoded image: constant, non-finite, out-of-range values.

    ``image.constant`` (a blank or single-colour image) is a warning by default;
    NaN/Inf and values outside ``value_range`` (with ``atol`` slack) reject.

    Example:
        >>> import numpy as np
        >>> ContentStats(value_range=(0, 1)).run(np.full((2, 2, 3), 2.0, np.float32)).codes
        ('image.constant', 'image.out_of_range')
    """

    modality = "image"

    def __init__(self, value_range: Sequence[float] | None = None, atol: float = 1e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.value_range = _range(owner, value_range)
        self.atol = float(check_number(owner, "atol", atol, minimum=0.0))

    def process(self, value: Any, ctx: Context) -> Any:
        arr = _as_array(ctx, value, self.name)
        if arr.size == 0:
            ctx.add(
                "image.empty",
                "the image array is empty; at least one pixel is required",
                severity=Severity.HIGH,
            )
            return value
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if lo == hi:
            ctx.add(
                "image.constant",
                f"every value of the image is {lo:g}: a blank or single-colour image",
                severity=Severity.LOW,
                action=Action.WARN,
                detail={"value": lo},
            )
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            ctx.add(
                "image.non_finite",
                f"all values must be finite; received {bad} NaN/Inf values",
                severity=Severity.HIGH,
                detail={"count": bad},
            )
            return value
        if self.value_range is not None:
            rlo, rhi = self.value_range
            if lo < rlo - self.atol or hi > rhi + self.atol:
                ctx.add(
                    "image.out_of_range",
                    f"values must lie in [{rlo:g}, {rhi:g}]; received min={lo:g}, max={hi:g}",
                    severity=Severity.HIGH,
                    detail={"min": lo, "max": hi},
                )
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(value_range=list(self.value_range) if self.value_range else None, atol=self.atol)
        return config


def _median(batch: np.ndarray, size: int, channel_axis: int | None) -> np.ndarray:
    """Median-smooth each image of ``batch`` spatially (never across items or channels)."""
    from scipy.ndimage import median_filter

    shape = [size] * batch.ndim
    shape[0] = 1
    if channel_axis is not None and batch.ndim == 4:
        shape[channel_axis] = 1
    return np.asarray(median_filter(batch, size=tuple(shape), mode="reflect"))


@image_stage
class FeatureSqueezing(Verifier):
    """Flag adversarial examples: model(x) vs model(squeezed x), L1 distance > threshold.

    Args:
        model: any callable mapping a batch ``(N, ...)`` to scores ``(N, K)``
            (a Keras model, ``model.predict``, a JAX function). Not part of the
            config: attach it again after loading a saved pipeline.
        threshold: L1 distance above which the input is flagged; set it with
            :meth:`calibrate`.
        bit_depth: bits kept by the bit-depth squeezer (the paper uses 1 for
            MNIST, 5 for CIFAR-10); ``0`` disables it.
        median_size: window of the median-smoothing squeezer; ``0`` disables it.
        value_range: the range of the input values (as encoded by ToArray).
        layout: ``"HWC"`` or ``"CHW"`` (a leading batch axis is allowed).
        softmax: apply a softmax to the model's outputs (when it returns logits).

    ``image.adversarial`` rejects by default; set the policy to ``warn`` to
    only record it. Calibrated at ``fpr=0.05``, about 1 in 20 benign images is
    flagged.

    Example:
        >>> import numpy as np
        >>> model = lambda x: np.stack([x.mean(axis=(1, 2, 3)), 1 - x.mean(axis=(1, 2, 3))], 1)
        >>> det = FeatureSqueezing(model, bit_depth=1, median_size=0)
        >>> det = det.calibrate([np.full((4, 4, 1), v, np.float32) for v in (0.0, 1.0, 0.1, 0.9)])
        >>> det.run(np.full((4, 4, 1), 0.45, np.float32)).codes
        ('image.adversarial',)
    """

    modality = "image"

    def __init__(
        self,
        model: Callable[[Any], Any] | None = None,
        threshold: float | None = None,
        bit_depth: int = 4,
        median_size: int = 2,
        value_range: Sequence[float] = (0.0, 1.0),
        layout: str = "HWC",
        softmax: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        if model is not None and not callable(model):
            raise ConfigError(f"{owner}: model must be callable. Received: model={model!r}")
        self.model = model
        self.threshold = check_number(owner, "threshold", threshold, minimum=0.0, allow_none=True)
        self.bit_depth = check_number(owner, "bit_depth", bit_depth, minimum=0, maximum=16, integer=True)
        self.median_size = check_number(
            owner, "median_size", median_size, minimum=0, maximum=15, integer=True
        )
        if not self.bit_depth and not self.median_size:
            raise ConfigError(f"{owner}: enable at least one squeezer (bit_depth or median_size > 0)")
        rng = _range(owner, value_range)
        assert rng is not None
        self.value_range: tuple[float, float] = rng
        self.layout = check_choice(owner, "layout", layout, ("HWC", "CHW"))
        if not isinstance(softmax, bool):
            raise ConfigError(f"{owner}: softmax must be a bool. Received: softmax={softmax!r}")
        self.softmax = softmax
        #: What ``calibrate(attacks=...)`` chose and every setting's catch rate (else ``None``).
        self.calibration: dict[str, Any] | None = None

    # -- squeezers --------------------------------------------------------------
    def _squeezed(self, x: np.ndarray) -> list[np.ndarray]:
        lo, hi = self.value_range
        out = []
        if self.bit_depth:
            levels = float(2**self.bit_depth - 1)
            unit = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
            out.append((np.rint(unit * levels) / levels * (hi - lo) + lo).astype(x.dtype))
        if self.median_size:
            out.append(_median(x, self.median_size, 1 if self.layout == "CHW" else 3))
        return out

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ConfigError("FeatureSqueezing has no model: pass model= (it is not saved in the config)")
        scores = np.asarray(self.model(batch), dtype=np.float64).reshape(len(batch), -1)
        if self.softmax:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def scores(self, images: Iterable[np.ndarray] | np.ndarray) -> np.ndarray:
        """The detector score (max L1 distance over squeezers) of each image.

        ``images`` is a batch array ``(N, ...)`` or an iterable of single images.
        """
        batch = np.asarray(images if isinstance(images, np.ndarray) else list(images), dtype=np.float32)
        variants = [batch, *self._squeezed(batch)]
        preds = self._predict(np.concatenate(variants))
        n = len(batch)
        base = preds[:n]
        dists = [
            np.abs(base - preds[(i + 1) * n : (i + 2) * n]).sum(axis=1) for i in range(len(variants) - 1)
        ]
        result: np.ndarray = np.max(np.stack(dists), axis=0)
        return result

    def calibrate(
        self,
        benign: Iterable[np.ndarray] | np.ndarray,
        fpr: float = 0.05,
        attacks: Iterable[np.ndarray] | np.ndarray | None = None,
        candidates: Sequence[tuple[int, int]] | None = None,
    ) -> FeatureSqueezing:
        """Set ``threshold`` so that a fraction ``fpr`` of ``benign`` images score above it.

        Use benign images the model will really see, and *other* images than
        those you later measure the false-positive rate on. Returns ``self``.

        With ``attacks`` (adversarial images, e.g. from
        :func:`keras_sanitize.fuzzing.attacks`) it also chooses the squeezers: every
        ``(bit_depth, median_size)`` of ``candidates`` (default
        :data:`SQUEEZER_CANDIDATES`) gets its threshold at ``fpr`` on ``benign``
        and its catch rate on ``attacks``; the best catch rate wins (ties: the
        fewer squeezers, then the earlier candidate). ``self.calibration`` then says
        which setting it chose and lists every setting's catch rate.
        """
        owner = type(self).__name__
        check_number(owner, "fpr", fpr, minimum=0.0, maximum=1.0)
        if attacks is None:
            s = self.scores(benign)
            if s.size == 0:
                raise ConfigError("calibrate needs at least one benign image")
            self.threshold = float(np.quantile(s, 1.0 - fpr, method="higher"))
            return self
        settings = list(candidates) if candidates is not None else list(SQUEEZER_CANDIDATES)
        for bits, size in settings:
            check_number(owner, "candidates bit_depth", bits, minimum=0, maximum=16, integer=True)
            check_number(owner, "candidates median_size", size, minimum=0, maximum=15, integer=True)
            if not bits and not size:
                raise ConfigError(
                    f"{owner}: every candidate must enable a squeezer. Received: {(bits, size)}"
                )
        if not settings:
            raise ConfigError(f"{owner}: candidates must hold at least one (bit_depth, median_size)")
        good = self._as_batch(benign)
        bad = self._as_batch(attacks)
        if not len(good) or not len(bad):
            raise ConfigError("calibrate needs at least one benign and one attack image")
        dist_good = self._distances(good, settings)
        dist_bad = self._distances(bad, settings)
        table = []
        for bits, size in settings:
            keys = [k for k in (("bits", bits), ("median", size)) if k[1]]
            sg = np.max([dist_good[k] for k in keys], axis=0)
            sb = np.max([dist_bad[k] for k in keys], axis=0)
            thr = float(np.quantile(sg, 1.0 - fpr, method="higher"))
            table.append({
                "bit_depth": int(bits), "median_size": int(size), "threshold": thr,
                "catch_rate": float(np.mean(sb > thr)), "false_positive_rate": float(np.mean(sg > thr)),
            })
        best = max(range(len(table)), key=lambda i: (
            table[i]["catch_rate"], -(bool(table[i]["bit_depth"]) + bool(table[i]["median_size"])), -i))
        chosen = table[best]
        self.bit_depth, self.median_size = chosen["bit_depth"], chosen["median_size"]
        self.threshold = chosen["threshold"]
        self.calibration = {
            "chosen": {k: chosen[k] for k in ("bit_depth", "median_size", "threshold", "catch_rate",
                                              "false_positive_rate")},
            "fpr": float(fpr), "benign": len(good), "attacks": len(bad), "settings": table,
        }
        return self

    @staticmethod
    def _as_batch(images: Iterable[np.ndarray] | np.ndarray) -> np.ndarray:
        return np.asarray(images if isinstance(images, np.ndarray) else list(images), dtype=np.float32)

    def _distances(
        self, batch: np.ndarray, settings: Sequence[tuple[int, int]]
    ) -> dict[tuple[str, int], np.ndarray]:
        """L1 distance between the model's outputs on ``batch`` and on each squeezer the settings use."""
        lo, hi = self.value_range
        base = self._predict(batch)
        out: dict[tuple[str, int], np.ndarray] = {}
        for bits in sorted({b for b, _ in settings if b}):
            levels = float(2**bits - 1)
            unit = np.clip((batch - lo) / (hi - lo), 0.0, 1.0)
            squeezed = (np.rint(unit * levels) / levels * (hi - lo) + lo).astype(batch.dtype)
            out[("bits", bits)] = np.abs(base - self._predict(squeezed)).sum(axis=1)
        for size in sorted({m for _, m in settings if m}):
            squeezed = _median(batch, size, 1 if self.layout == "CHW" else 3)
            out[("median", size)] = np.abs(base - self._predict(squeezed)).sum(axis=1)
        return out

    def process(self, value: Any, ctx: Context) -> Any:
        if self.threshold is None:
            raise ConfigError("FeatureSqueezing has no threshold: call calibrate(benign_images) first")
        arr = _as_array(ctx, value, self.name)
        batched = arr.ndim == 4
        items = arr if batched else arr[None]
        try:
            scores = self.scores(items)
        except ConfigError:
            raise
        except Exception as exc:
            ctx.halt(
                "image.detector_failed",
                f"the model raised {type(exc).__name__} on this input of shape {arr.shape}; check the "
                f"encoder's size and layout match the model",
            )
        for i, score in enumerate(scores):
            if not score <= self.threshold:
                ctx.add(
                    "image.adversarial",
                    f"the model's output moves by L1 {score:.3g} when the input is squeezed; threshold is "
                    f"{self.threshold:.3g} (feature squeezing): a likely adversarial example"
                    + (f" (batch item {i})" if batched else ""),
                    severity=Severity.HIGH,
                    score=float(score),
                    detail={"score": float(score), "threshold": self.threshold},
                )
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            threshold=self.threshold,
            bit_depth=self.bit_depth,
            median_size=self.median_size,
            value_range=list(self.value_range),
            layout=self.layout,
            softmax=self.softmax,
        )
        return config
