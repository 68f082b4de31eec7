"""Samples and stages shared by the tensor test files (test_tensor_<kind>.py, test_tensor_default.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

import keras_sanitize as ks

V = ks.tensor.validators
F = ks.tensor.filters
E = ks.tensor.encoders

SAMPLES: list[Any] = [
    np.zeros((2, 3), np.float32),
    np.array([1.0, np.nan, -np.inf]),
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.array([True, False]),
    np.zeros((0, 4)),
    np.array(3.5),
]

STAGES = [
    V.TensorSpec(),
    V.TensorSpec(shape=(None, 3), min_value=-1, max_value=1, dtypes=["float32"]),
    V.DTypeAllowlist(["float32", "float64"]),
    V.ShapeSpec([None, 3]),
    V.Finite(),
    V.ValueRange(0, 1),
    V.SizeBudget(max_elements=4, max_bytes=64),
    F.ReplaceNonFinite(nan=0.0, posinf=1.0, neginf=-1.0),
    F.Clip(0.0, 1.0),
    E.ToArray(max_elements=100),
    E.Cast("float16"),
    E.Cast("uint8", scale=255.0),
    ks.tensor.verifiers.ProbabilitySimplex(),
    ks.tensor.default(shape=(None, 3), dtype="float32"),
    ks.tensor.Structured({"a": ks.tensor.default(), "b": ks.tensor.default()}),
    ks.tensor.Structured([ks.tensor.default()]),
]

_MODULES = ("validators", "filters", "encoders", "verifiers")


def in_module(stages: list[Any], module: str | None) -> list[Any]:
    """The stages whose class lives in ``keras_sanitize/tensor/<module>.py``.

    ``module=None``: the others (``default()`` pipelines, ``Structured``).
    """
    homes = [type(s).__module__.rsplit(".", 1)[-1] for s in stages]
    if module is None:
        return [s for s, home in zip(stages, homes) if home not in _MODULES]
    return [s for s, home in zip(stages, homes) if home == module]
