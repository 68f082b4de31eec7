"""Helpers shared by the tensor stages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError

#: dtypes a numeric model input may have; object, string, void and complex are refused.
NUMERIC_DTYPES: frozenset[str] = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
    }
)


def dtype_name(dtype: Any) -> str:
    """Return the canonical name of a numpy (or ml_dtypes) dtype."""
    return str(np.dtype(dtype).name) if not isinstance(dtype, str) else dtype


def check_dtypes(owner: str, dtypes: Iterable[Any] | None) -> tuple[str, ...] | None:
    """Validate a dtype allowlist argument."""
    if dtypes is None:
        return None
    if isinstance(dtypes, str):
        dtypes = [dtypes]
    out = []
    for d in dtypes:
        try:
            name = d if d == "bfloat16" else np.dtype(d).name
        except TypeError:
            raise ConfigError(f"{owner}: unknown dtype {d!r} in dtypes") from None
        out.append(str(name))
    return tuple(sorted(set(out)))


def check_shape(owner: str, shape: Sequence[Any] | None) -> tuple[int | None, ...] | None:
    """Validate a shape spec: a sequence of non-negative ints, or a free dimension.

    A free dimension ("any size") is ``None``; policy files, where TOML has no null,
    spell it ``"any"`` (or ``-1``, as in NumPy/Keras reshape).

    Example:
        >>> check_shape("TensorSpec", ["any", 3]), check_shape("TensorSpec", [-1, 3])
        ((None, 3), (None, 3))
    """
    if shape is None:
        return None
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise ConfigError(f"{owner}: shape must be a sequence of int or None. Received: shape={shape!r}")
    out: list[int | None] = []
    for d in shape:
        if d is None or d == "any" or (isinstance(d, int) and not isinstance(d, bool) and d == -1):
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and d >= 0:
            out.append(d)
        else:
            raise ConfigError(
                f"{owner}: shape entries must be ints >= 0, or None / 'any' / -1 for a free "
                f"dimension. Received: shape={list(shape)!r}"
            )
    return tuple(out)


def shape_str(shape: Sequence[int | None]) -> str:
    """Render a shape spec with ``None`` for free dimensions."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
