"""Tensor attack families: NaN/Inf, out-of-range values, wrong dtype or shape, denormals."""

from __future__ import annotations

import numpy as np

from keras_sanitize.fuzzing._families import Case, Family, GenContext, pick

__all__ = ["TENSOR_FAMILIES", "clean_tensors"]


def clean_tensors(
    shape: tuple[int, ...], dtype: str = "float32", count: int = 8, seed: int = 0
) -> list[np.ndarray]:
    """Benign arrays of ``shape``: uniform values in [0, 1)."""
    rng = np.random.default_rng(seed)
    return [rng.random(shape).astype(dtype) for _ in range(count)]


def _cleans(ctx: GenContext, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [np.asarray(pick(rng, ctx.samples)) for _ in range(n)]


def _nan_inf(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        bad = clean.astype(np.float32).copy()
        special = (np.nan, np.inf, -np.inf)[i % 3]
        flat = bad.reshape(-1)
        if flat.size:
            flat[rng.integers(0, flat.size, max(1, flat.size // 20))] = special
        out.append(Case(clean, bad, f"value={special}"))
    return out


def _out_of_range(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    scales = (1e3, 1e6, -1e3, 3.0e38)
    return [
        Case(c, (c.astype(np.float64) * scales[i % 4]).astype(np.float32), f"scale={scales[i % 4]:g}")
        for i, c in enumerate(_cleans(ctx, rng, n))
    ]


def _wrong_dtype(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        kind = i % 5
        bad: np.ndarray
        if kind == 0:
            bad = (clean * 1000).astype(np.int64)
        elif kind == 1:
            bad = clean.astype(np.float16)
        elif kind == 2:
            bad = clean.astype(np.complex64) + 1j
        elif kind == 3:
            bad = clean > 0.5
        else:
            bad = clean.astype(str)
        out.append(Case(clean, bad, f"dtype={bad.dtype.name}"))
    return out


def _wrong_shape(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        kind = i % 4
        if kind == 0:
            bad, label = clean[None], "extra_axis"
        elif kind == 1:
            bad, label = clean.reshape(-1)[: max(clean.size // 2, 1)], "truncated"
        elif kind == 2:
            bad, label = np.concatenate([clean.reshape(-1), clean.reshape(-1)]), "doubled"
        else:
            bad, label = np.zeros((0, *clean.shape[1:]), clean.dtype), "empty"
        out.append(Case(clean, bad, label))
    return out


def _denormals(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        scale = (1e-39, 1e-44)[i % 2]
        out.append(
            Case(clean, (clean.astype(np.float32) * np.float32(scale)).astype(np.float32), f"scale={scale:g}")
        )
    return out


TENSOR_FAMILIES: tuple[Family, ...] = (
    Family("nan_inf", "tensor", "NaN, +Inf or -Inf in 5% of the values", _nan_inf),
    Family("out_of_range", "tensor", "values scaled far out of the training range", _out_of_range),
    Family("wrong_dtype", "tensor", "int64, float16, complex, bool and string arrays", _wrong_dtype),
    Family("wrong_shape", "tensor", "extra axis, truncated, doubled and empty arrays", _wrong_shape),
    Family("denormals", "tensor", "subnormal float32 values (slow paths, underflow)", _denormals),
)
