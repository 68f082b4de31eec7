"""The probe's arguments and modality glue: limits, checks, family selection, the naive path."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import echo
from keras_sanitize.fuzzing._families import Family
from keras_sanitize.stage import Stage

__all__ = ["ARRAY_FAMILIES", "DEFAULT_SHAPES", "MODALITIES", "ProbeLimits", "families"]


@dataclass(frozen=True)
class ProbeLimits:
    """Resource limits of :func:`probe`; every field is overridable.

    Attributes:
        max_budget: most attacked inputs in one probe.
        max_input_elements: largest per-item input (product of ``input_shape``).
        max_samples: most clean seed inputs.

    Example:
        >>> ProbeLimits(max_budget=50).max_budget
        50
    """

    max_budget: int = 100_000
    max_input_elements: int = 1 << 24
    max_samples: int = 10_000


#: Per-item input shape used when neither the model nor ``input_shape`` gives one.
DEFAULT_SHAPES: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"image": (64, 64, 3), "audio": (16000,), "tensor": (8,)}
)
MODALITIES = ("text", "image", "audio", "tensor")


def _all_families() -> dict[str, tuple[Family, ...]]:
    from keras_sanitize.fuzzing._audio import AUDIO_FAMILIES
    from keras_sanitize.fuzzing._image import IMAGE_FAMILIES
    from keras_sanitize.fuzzing._tensor import TENSOR_FAMILIES
    from keras_sanitize.fuzzing._text import TEXT_FAMILIES

    return {
        "text": TEXT_FAMILIES,
        "image": IMAGE_FAMILIES,
        "audio": AUDIO_FAMILIES,
        "tensor": TENSOR_FAMILIES,
    }


def families(modality: str) -> tuple[str, ...]:
    """The names of the attack families of ``modality``, in the order the probe runs them.

    Example:
        >>> families("tensor")
        ('nan_inf', 'out_of_range', 'wrong_dtype', 'wrong_shape', 'denormals')
    """
    if not isinstance(modality, str) or modality not in MODALITIES:
        raise ConfigError(f"modality must be one of {list(MODALITIES)}. Received: modality={echo(modality)}")
    return tuple(f.name for f in _all_families()[modality])


#: Image families whose attacks are pixel arrays (what :func:`attacks` can return).
ARRAY_FAMILIES = ("uniform_noise", "gaussian_noise", "fgsm", "pgd", "jpeg", "bit_depth")


def _corpora(corpora: str | os.PathLike[str] | None) -> Path | None:
    if corpora is not None:
        path = Path(corpora)
        return path if path.is_dir() else None
    shared = os.environ.get("KERAS_SANITIZE_SHARED")
    for candidate in ([Path(shared) / "corpora"] if shared else []) + [Path("/work/shared/corpora")]:
        if candidate.is_dir():
            return candidate
    return None


def _select(modality: str, names: Iterable[str] | str | None) -> list[Family]:
    fams = _all_families()[modality]
    if names is None:
        return list(fams)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {f.name: f for f in fams}
    wanted: list[Any]
    try:
        wanted = list(names)
    except TypeError:
        wanted = [names]
    unknown = [n for n in wanted if not isinstance(n, str) or n not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"probe: families must name {modality} families {sorted(known)}. "
            f"Received: families={echo(wanted)}"
        )
    return [known[n] for n in dict.fromkeys(wanted)]


class _Wire:
    """Modality glue: clean seeds, the naive (no-pipeline) path to the model, clean wire form."""

    def __init__(self, modality: str, shape: tuple[int, ...] | None, rate: int) -> None:
        self.modality = modality
        self.shape = shape
        self.rate = rate

    def seeds(self, seed: int) -> list[Any]:
        if self.modality == "text":
            from keras_sanitize.fuzzing._text import phrases

            return list(phrases()["benign"])
        assert self.shape is not None
        if self.modality == "image":
            from keras_sanitize.fuzzing._image import clean_images

            return clean_images(self.shape, seed=seed)  # type: ignore[arg-type]
        if self.modality == "audio":
            from keras_sanitize.fuzzing._audio import clean_audio

            return clean_audio(self.shape[0], self.rate, seed=seed)
        from keras_sanitize.fuzzing._tensor import clean_tensors

        return clean_tensors(self.shape, seed=seed)

    def naive(self, value: Any) -> Any:
        """The model input a deployment without a pipeline would build (may raise: a decode error)."""
        if self.modality == "text":
            return value
        if self.modality == "image":
            from keras_sanitize.fuzzing._image import decode_naive

            assert self.shape is not None
            if isinstance(value, bytes):
                return decode_naive(value, self.shape)
            arr = np.asarray(value)
            if arr.shape != self.shape:
                from PIL import Image

                im = Image.fromarray(arr.astype(np.uint8).squeeze())
                arr = np.asarray(im.resize((self.shape[1], self.shape[0])), np.uint8).reshape(self.shape)
            return arr.astype(np.float32) / 255.0
        if self.modality == "audio":
            from keras_sanitize.fuzzing._audio import decode_naive as decode_audio

            assert self.shape is not None
            if isinstance(value, bytes):
                return decode_audio(value, self.shape[0])
            return np.asarray(value, np.float32)
        return np.asarray(value)

    def clean_wire(self, clean: Any) -> Any:
        """The clean input as the pipeline receives it (audio: a WAV file)."""
        if self.modality == "audio":
            from keras_sanitize.audio import synth

            return synth.encode(np.clip(clean, -1, 1), self.rate, "WAV", "PCM_16")
        return clean


def _check_kwargs(
    limits: ProbeLimits, budget: int, samples: Any, input_shape: Any, sample_rate: Any, epsilons: Any
) -> tuple[tuple[int, ...] | None, tuple[float, ...] | None]:
    if budget > limits.max_budget:
        raise ConfigError(
            f"probe: budget must be at most {limits.max_budget} (ProbeLimits.max_budget). "
            f"Received: budget={budget}"
        )
    if samples is not None and (
        isinstance(samples, (str, bytes))
        or not isinstance(samples, Sequence)
        or len(samples) > limits.max_samples
    ):
        raise ConfigError(
            f"probe: samples must be a sequence of at most {limits.max_samples} clean inputs. "
            f"Received: samples={echo(samples)}"
        )
    shape = None
    if input_shape is not None:
        try:
            shape = tuple(int(d) for d in input_shape)
            ok = all(d > 0 and not isinstance(d, bool) for d in input_shape) and 0 < len(shape) <= 4
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok or math.prod(shape or ()) > limits.max_input_elements:
            raise ConfigError(
                f"probe: input_shape must be 1-4 positive sizes with at most "
                f"{limits.max_input_elements} elements. Received: input_shape={echo(input_shape)}"
            )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
        raise ConfigError(
            f"probe: sample_rate must be an int in [1000, 384000]. Received: sample_rate={sample_rate!r}"
        )
    eps = None
    if epsilons is not None:
        try:
            eps = tuple(float(e) for e in epsilons)
        except (TypeError, ValueError):
            eps = None
        if not eps or not all(0 < e <= 1 for e in eps) or len(eps) > 64:
            raise ConfigError(
                f"probe: epsilons must be 1-64 numbers in (0, 1]. Received: epsilons={echo(epsilons)}"
            )
    return shape, eps


def _clean_samples(modality: str, samples: Sequence[Any], shape: tuple[int, ...] | None) -> list[Any]:
    """The user's clean seeds, checked: texts; uint8 images of the model's shape; finite 1-D audio
    (cut or padded to the model's length); finite numeric arrays of the model's shape."""
    rule = {
        "text": "strings",
        "image": f"uint8 arrays of shape {shape}",
        "audio": "finite 1-D float arrays",
        "tensor": f"finite numeric arrays of shape {shape}",
    }[modality]
    out: list[Any] = []
    for i, item in enumerate(samples):
        ok = False
        value: Any = item
        if modality == "text":
            ok = isinstance(item, str)
        elif isinstance(item, np.ndarray) and item.dtype.kind in "biuf":
            if modality == "image":
                ok = item.dtype == np.uint8 and item.shape == shape
            elif modality == "audio" and item.ndim == 1 and shape is not None:
                value = np.pad(item.astype(np.float32), (0, max(0, shape[0] - item.shape[0])))[: shape[0]]
                ok = bool(np.isfinite(value).all())
            elif modality == "tensor":
                ok = item.shape == shape and bool(np.isfinite(item).all())
        if not ok:
            raise ConfigError(
                f"probe: {modality} samples must be {rule}. Received: samples[{i}]={echo(item)}"
            )
        out.append(value)
    if not out:
        raise ConfigError("probe: samples must hold at least one clean input")
    return out


def _check_args(modality: str, budget: Any, seed: Any, canary: Any, pipeline: Any, timeout: Any) -> None:
    if not isinstance(modality, str) or modality not in MODALITIES:
        raise ConfigError(
            f"probe: modality must be one of {list(MODALITIES)}. Received: modality={echo(modality)}"
        )
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"probe: budget must be a positive int. Received: budget={budget!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"probe: seed must be an int. Received: seed={seed!r}")
    if canary is not None and (not isinstance(canary, str) or not canary):
        raise ConfigError(
            f"probe: canary must be a non-empty string or None. Received: canary={canary!r:.40}"
        )
    if pipeline is not None and not isinstance(pipeline, Stage):
        raise ConfigError(
            f"probe: pipeline must be a ks.Pipeline (or stage). Received: pipeline={pipeline!r:.80}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(
            f"probe: timeout must be a positive number of seconds. Received: timeout={timeout!r}"
        )
