"""Attack families: named, seeded generators of (clean, attacked) input pairs.

A family turns ``n`` and a seeded generator into ``n`` :class:`Case` objects. Each
case carries the clean input the attack started from (the reference output of
the model) and the attacked input, in the modality's wire form: ``str`` for
text, a ``uint8`` HWC array or file bytes for images, file bytes for audio, an
array for tensors.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Case", "Family", "GenContext", "family_rng"]


@dataclass(frozen=True)
class Case:
    """One attack: the clean input, the attacked input and what the attack asks for.

    Attributes:
        clean: the benign input the attack was derived from.
        attacked: the hostile input.
        variant: the setting within the family (``"eps=8/255"``, ``"snr=10dB"``).
        marker: text attacks: the string the payload asks the model to say.
    """

    clean: Any
    attacked: Any
    variant: str = ""
    marker: str | None = None


@dataclass
class GenContext:
    """What a family may use to build its cases.

    Attributes:
        samples: clean seed inputs of the modality (texts, uint8 images, float audio, arrays).
        shape: the per-item input shape of the model (without the batch axis), if known.
        rate: audio sample rate of the model.
        epsilons: perturbation budgets on the [0, 1] scale.
        gradient: ``gradient(x, labels) -> dloss/dx`` for float inputs in [0, 1], when the
            target is a Keras model (FGSM, PGD); ``None`` otherwise.
        predict: ``predict(x) -> scores`` on float inputs in [0, 1] (the raw model).
        corpora: the shared corpora folder, if present.
        dtype: the model's input dtype (tensor modality).
    """

    samples: Sequence[Any]
    shape: tuple[int, ...] | None = None
    rate: int = 16000
    epsilons: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255, 16 / 255)
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    predict: Callable[[np.ndarray], np.ndarray] | None = None
    corpora: Path | None = None
    dtype: str = "float32"
    notes: dict[str, str] = field(default_factory=dict)


Generator = Callable[[GenContext, int, np.random.Generator], list[Case]]


@dataclass(frozen=True)
class Family:
    """A named attack family of one modality.

    Attributes:
        name: short stable name (``"base64"``, ``"fgsm"``); ``--families`` selects by it.
        modality: ``"text"``, ``"image"``, ``"audio"`` or ``"tensor"``.
        description: one line for the report.
        generate: ``generate(ctx, n, rng) -> list[Case]``.
        needs_gradients: only runs when the target is a Keras model.
        available: ``available(ctx) -> reason or None`` (e.g. a corpus that is absent).
    """

    name: str
    modality: str
    description: str
    generate: Generator
    needs_gradients: bool = False
    available: Callable[[GenContext], str | None] | None = None


def family_rng(seed: int, name: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the family's name: one family's draws never shift another's."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    """One item of ``items``, drawn with ``rng``."""
    return items[int(rng.integers(len(items)))]
