"""Tensor encoders: turn array-likes into arrays, cast and scale to the model's dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Severity, echo
from keras_sanitize.stage import Context, Encoder, check_number
from keras_sanitize.tensor._util import NUMERIC_DTYPES, check_dtypes
from keras_sanitize.tensor.validators import DEFAULT_MAX_ELEMENTS, _not_array

__all__ = ["Cast", "ToArray"]

_MAX_DEPTH = 32


def _scan_nested(value: Any, limit: int) -> str | None:
    """Reject what ``np.asarray`` would mishandle, before it allocates.

    Returns a reason, or ``None`` when the nested sequence is plainly numeric.
    Walks iteratively (no recursion limit) and stops after ``limit`` leaves.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple)):
            if depth >= _MAX_DEPTH:
                return f"nesting deeper than {_MAX_DEPTH}"
            stack.extend((x, depth + 1) for x in item)
            continue
        seen += 1
        if seen > limit:
            return f"more than {limit} elements"
        if isinstance(item, bool) or item is None:
            if item is None:
                return "None inside the sequence"
            continue
        if isinstance(item, int):
            if not -(2**63) <= item < 2**64:
                return f"integer {echo(item)} does not fit in 64 bits"
            continue
        if isinstance(item, (float, np.number, np.bool_)):
            continue
        return f"element of type {type(item).__name__} is not a number"
    return None


@register_stage()
class ToArray(Encoder):
    """Turn lists, tuples, scalars and array-likes (Keras/JAX/torch tensors) into a numpy array.

    Object arrays, ragged lists, non-numbers, ints beyond 64 bits and oversized
    sequences are refused before anything large is allocated.

    Example:
        >>> ToArray()([[1, 2], [3, 4]]).shape
        (2, 2)
    """

    modality = "tensor"

    def __init__(self, max_elements: int | None = DEFAULT_MAX_ELEMENTS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_elements = check_number(
            type(self).__name__, "max_elements", max_elements, minimum=0, integer=True, allow_none=True
        )

    def process(self, value: Any, ctx: Context) -> Any:
        if isinstance(value, np.ndarray):
            arr = value
        elif isinstance(value, (list, tuple, int, float, bool, np.generic)):
            reason = _scan_nested(value, self.max_elements if self.max_elements is not None else 1 << 62)
            if reason and reason.startswith("more than"):
                ctx.halt(
                    "tensor.too_many_elements",
                    f"the sequence has {reason}; limit is {self.max_elements} (max_elements)",
                    detail={"limit": self.max_elements},
                )
            if reason:
                ctx.halt(
                    "tensor.not_numeric",
                    f"a numeric array-like is required; received {echo(value)} with {reason}",
                )
            try:
                arr = np.asarray(value)
            except (ValueError, OverflowError, TypeError) as exc:
                ctx.halt(
                    "tensor.not_numeric",
                    f"could not convert {echo(value)} to an array: {exc}",
                )
        elif hasattr(value, "__array__") or hasattr(value, "numpy"):
            try:
                conv = value.numpy() if hasattr(value, "numpy") and not hasattr(value, "__array__") else value
                arr = np.asarray(conv)
            except Exception as exc:
                ctx.halt("tensor.not_numeric", f"could not convert {echo(value)} to an array: {exc}")
        else:
            ctx.halt(
                "tensor.not_array",
                f"a numeric array, list or scalar is required; received {echo(value)}",
            )
        if arr.dtype.kind not in "biuf" and arr.dtype.name != "bfloat16":
            ctx.halt(
                "tensor.dtype",
                f"a numeric dtype is required; received dtype={arr.dtype} from {echo(value)}",
                severity=Severity.HIGH,
            )
        if self.max_elements is not None and arr.size > self.max_elements:
            ctx.halt(
                "tensor.too_many_elements",
                f"array has {arr.size} elements; limit is {self.max_elements} (max_elements)",
            )
        return arr

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["max_elements"] = self.max_elements
        return config


def _saturate(arr: np.ndarray, target: np.dtype[Any]) -> np.ndarray:
    """Round and clip ``arr`` into ``target``'s range so the cast cannot wrap around."""
    info = np.iinfo(target)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(np.rint(arr), nan=0.0, posinf=np.inf, neginf=-np.inf)
        # float(2**63) rounds up past int64's max: stay one ulp below it.
        upper = np.nextafter(float(info.max), 0.0) if target.itemsize == 8 else float(info.max)
        return np.asarray(np.clip(arr, float(info.min), upper))
    if arr.dtype.kind in "iu":
        src = np.iinfo(arr.dtype)
        lo, hi = max(info.min, src.min), min(info.max, src.max)
        if lo > src.min or hi < src.max:
            return np.asarray(np.clip(arr, lo, hi))
    return arr


@register_stage()
class Cast(Encoder):
    """Cast to ``dtype``, after an optional affine ``x * scale + offset``.

    Casting a float to an integer dtype rounds and saturates into the dtype's
    range instead of wrapping around (NumPy's default for out-of-range floats is
    undefined).

    Example:
        >>> import numpy as np
        >>> Cast("uint8")(np.array([-5.0, 300.0])).tolist()
        [0, 255]
    """

    modality = "tensor"

    def __init__(
        self, dtype: str = "float32", scale: float | None = None, offset: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        names = check_dtypes(owner, [dtype]) or ()
        if names[0] not in NUMERIC_DTYPES:
            raise ConfigError(f"{owner}: dtype must be numeric. Received: dtype={dtype!r}")
        self.dtype = names[0]
        self.scale = check_number(owner, "scale", scale, allow_none=True)
        self.offset = check_number(owner, "offset", offset, allow_none=True)

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.dtype.kind not in "biuf":
            ctx.halt("tensor.dtype", f"cannot cast dtype={value.dtype} to {self.dtype}")
        # Overflow is checked explicitly below; numpy's warnings would only be noise.
        with np.errstate(all="ignore"):
            out = self._scale(value)
            target = np.dtype(self.dtype)
            if out.dtype != target and out.size:
                if target.kind == "f":
                    self._check_fits(out, target, ctx)
                elif target.kind in "iu":
                    out = _saturate(out, target)
            if out.dtype != target:
                out = out.astype(target)
        return np.asarray(out)  # 0-d arithmetic yields numpy scalars

    def _scale(self, value: np.ndarray) -> np.ndarray:
        if self.scale is None and self.offset is None:
            return value
        out = value.astype(np.float64 if value.dtype == np.float64 else np.float32, copy=False)
        if self.scale is not None:
            out = out * self.scale
        if self.offset is not None:
            out = out + self.offset
        return np.asarray(out)

    def _check_fits(self, out: np.ndarray, target: np.dtype[Any], ctx: Context) -> None:
        limit = float(np.finfo(target).max)
        lo, hi = float(np.min(out)), float(np.max(out))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            finite = out[np.isfinite(out)]  # slow path, only when non-finite values exist
            lo, hi = (float(np.min(finite)), float(np.max(finite))) if finite.size else (0.0, 0.0)
        if lo < -limit or hi > limit:
            ctx.halt(
                "tensor.cast_overflow",
                f"values must fit in {self.dtype} (|x| <= {limit:g}); received min={lo:g}, max={hi:g}",
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(dtype=self.dtype, scale=self.scale, offset=self.offset)
        return config
