"""Tensor validators: dtype, shape, finiteness, range and size of numeric arrays.

:class:`TensorSpec` does all checks in one fused pass (NaN propagates through
``min``/``max``, so one min and one max reduction answer both "finite?" and
"in range?"); the single-purpose validators exist for composing custom
pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_sanitize.config import register_stage
from keras_sanitize.findings import Severity, echo
from keras_sanitize.stage import Context, Validator, check_limits, check_number
from keras_sanitize.tensor._util import (
    NUMERIC_DTYPES,
    check_dtypes,
    check_shape,
    dtype_name,
    shape_str,
)

__all__ = ["DTypeAllowlist", "Finite", "ShapeSpec", "SizeBudget", "TensorSpec", "ValueRange"]



@dataclass(frozen=True)
class Limits:
    """The tensor modality's resource limits; every one is overridable.

    Attributes:
        max_elements: element budget, 2**28 elements (1 GiB of float32).
        max_bytes: byte budget of the array (1 GiB); ``None`` in
            :func:`~keras_sanitize.tensor.default`, which bounds elements only.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> ks.tensor.default(limits=ks.tensor.Limits(max_elements=3)).run(np.zeros(4)).codes
        ('tensor.too_many_elements',)
    """

    max_elements: int | None = 1 << 28
    max_bytes: int | None = 1 << 30

    def __post_init__(self) -> None:
        check_limits(self)


#: the default limits of the tensor stages.
DEFAULT_LIMITS = Limits()
#: default element budget: 2**28 elements (1 GiB of float32).
DEFAULT_MAX_ELEMENTS: int = 1 << 28
#: default byte budget: 1 GiB.
DEFAULT_MAX_BYTES: int = 1 << 30


def _not_array(ctx: Context, value: Any) -> None:
    ctx.halt(
        "tensor.not_array",
        f"a numpy array is required; received {echo(value)}. Put a ToArray encoder first "
        f"to convert lists and scalars.",
    )


def _check_dtype(ctx: Context, arr: np.ndarray, allowed: Sequence[str]) -> bool:
    name = dtype_name(arr.dtype)
    if name not in allowed:
        ctx.add(
            "tensor.dtype",
            f"dtype must be one of {list(allowed)}; received dtype={name}",
            severity=Severity.HIGH,
            detail={"dtype": name, "allowed": list(allowed)},
        )
        return False
    return True


def _check_shape(ctx: Context, arr: np.ndarray, spec: Sequence[int | None]) -> None:
    shape = arr.shape
    if len(shape) != len(spec) or any(s is not None and s != d for s, d in zip(spec, shape)):
        ctx.add(
            "tensor.shape",
            f"shape must match {shape_str(spec)} (None = any size); received shape={tuple(shape)}",
            severity=Severity.HIGH,
            detail={"shape": list(shape), "expected": [d for d in spec]},
        )


def _check_budget(ctx: Context, arr: np.ndarray, max_elements: int | None, max_bytes: int | None) -> bool:
    ok = True
    if max_elements is not None and arr.size > max_elements:
        ctx.halt(
            "tensor.too_many_elements",
            f"array has {arr.size} elements; limit is {max_elements} (max_elements)",
            severity=Severity.HIGH,
            detail={"size": int(arr.size), "limit": max_elements},
        )
        ok = False
    if max_bytes is not None and arr.nbytes > max_bytes:
        ctx.halt(
            "tensor.too_many_bytes",
            f"array holds {arr.nbytes} bytes; limit is {max_bytes} (max_bytes)",
            severity=Severity.HIGH,
            detail={"nbytes": int(arr.nbytes), "limit": max_bytes},
        )
        ok = False
    return ok


def _count_non_finite(ctx: Context, arr: np.ndarray) -> None:
    """Precise (slow-path) report of NaN / Inf counts; only run when min/max said so."""
    nan = int(np.count_nonzero(np.isnan(arr)))
    inf = int(np.count_nonzero(np.isinf(arr)))
    if nan or inf:
        first = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        where = tuple(int(i) for i in np.unravel_index(first, arr.shape))
        ctx.add(
            "tensor.non_finite",
            f"all values must be finite; received {nan} NaN and {inf} infinite values "
            f"(first at index {where})",
            severity=Severity.HIGH,
            detail={"nan": nan, "inf": inf, "first_index": list(where)},
        )


def _minmax(arr: np.ndarray) -> tuple[float, float]:
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    return float(np.min(arr)), float(np.max(arr))


def _check_values(
    ctx: Context,
    arr: np.ndarray,
    finite: bool,
    min_value: float | None,
    max_value: float | None,
) -> None:
    """Finite and range checks from one min and one max reduction."""
    if arr.size == 0 or not (finite or min_value is not None or max_value is not None):
        return
    if arr.dtype.kind == "c":
        if finite and not np.isfinite(arr).all():
            _count_non_finite(ctx, arr)
        return
    is_float = arr.dtype.kind == "f" or dtype_name(arr.dtype) == "bfloat16"
    lo, hi = _minmax(arr)
    if is_float and not (np.isfinite(lo) and np.isfinite(hi)):
        # NaN propagates through min/max; an inf shows as the min or max.
        if finite:
            _count_non_finite(ctx, arr)
        return
    if min_value is not None and lo < min_value:
        ctx.add(
            "tensor.out_of_range",
            f"values must be >= {min_value}; received a minimum of {lo:g}",
            detail={"min": lo, "limit": min_value},
        )
    if max_value is not None and hi > max_value:
        ctx.add(
            "tensor.out_of_range",
            f"values must be <= {max_value}; received a maximum of {hi:g}",
            detail={"max": hi, "limit": max_value},
        )


def _check_range_args(owner: str, min_value: Any, max_value: Any) -> None:
    check_number(owner, "min_value", min_value, allow_none=True)
    check_number(owner, "max_value", max_value, allow_none=True)
    if min_value is not None and max_value is not None and min_value > max_value:
        from keras_sanitize.errors import ConfigError

        raise ConfigError(
            f"{owner}: min_value must be <= max_value. Received: min_value={min_value}, max_value={max_value}"
        )


@register_stage()
class TensorSpec(Validator):
    """All tensor checks in one fused pass: dtype, shape, size, finiteness, range.

    Args:
        dtypes: allowed dtype names (default: the numeric dtypes).
        shape: expected shape, ``None`` for free dimensions (default: any).
        finite: refuse NaN and infinite values.
        min_value / max_value: inclusive value range (default: unbounded).
        max_elements / max_bytes: size budget.

    Example:
        >>> import numpy as np
        >>> spec = TensorSpec(shape=(None, 3), min_value=0.0, max_value=1.0)
        >>> spec.run(np.zeros((2, 3), "float32")).ok
        True
        >>> spec.run(np.full((2, 3), 7.0)).codes
        ('tensor.out_of_range',)
    """

    modality = "tensor"

    def __init__(
        self,
        dtypes: Iterable[str] | None = tuple(sorted(NUMERIC_DTYPES)),
        shape: Sequence[int | None] | None = None,
        finite: bool = True,
        min_value: float | None = None,
        max_value: float | None = None,
        max_elements: int | None = DEFAULT_MAX_ELEMENTS,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.dtypes = check_dtypes(owner, dtypes)
        self.shape = check_shape(owner, shape)
        self.finite = bool(finite)
        _check_range_args(owner, min_value, max_value)
        self.min_value = min_value
        self.max_value = max_value
        self.max_elements = check_number(
            owner, "max_elements", max_elements, minimum=0, integer=True, allow_none=True
        )
        self.max_bytes = check_number(owner, "max_bytes", max_bytes, minimum=0, integer=True, allow_none=True)

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if self.dtypes is not None and not _check_dtype(ctx, value, self.dtypes):
            return
        if value.dtype.kind not in "biuf" and dtype_name(value.dtype) != "bfloat16":
            ctx.add(
                "tensor.dtype",
                f"a numeric dtype is required; received dtype={value.dtype}",
                severity=Severity.HIGH,
            )
            return
        if self.shape is not None:
            _check_shape(ctx, value, self.shape)
        if not _check_budget(ctx, value, self.max_elements, self.max_bytes):
            return
        _check_values(ctx, value, self.finite, self.min_value, self.max_value)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            dtypes=list(self.dtypes) if self.dtypes is not None else None,
            shape=list(self.shape) if self.shape is not None else None,
            finite=self.finite,
            min_value=self.min_value,
            max_value=self.max_value,
            max_elements=self.max_elements,
            max_bytes=self.max_bytes,
        )
        return config


@register_stage()
class DTypeAllowlist(Validator):
    """Refuse arrays whose dtype is not in ``dtypes``.

    Example:
        >>> import numpy as np
        >>> DTypeAllowlist(["float32"]).run(np.zeros(2, "float64")).codes
        ('tensor.dtype',)
    """

    modality = "tensor"

    def __init__(self, dtypes: Iterable[str] = tuple(sorted(NUMERIC_DTYPES)), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dtypes = check_dtypes(type(self).__name__, dtypes) or ()

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        _check_dtype(ctx, value, self.dtypes)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["dtypes"] = list(self.dtypes)
        return config


@register_stage()
class ShapeSpec(Validator):
    """Refuse arrays whose shape does not match ``shape`` (``None`` = free dimension).

    Example:
        >>> import numpy as np
        >>> ShapeSpec([None, 4]).run(np.zeros((8, 4))).ok
        True
    """

    modality = "tensor"

    def __init__(self, shape: Sequence[int | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape = check_shape(type(self).__name__, shape) or ()

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        _check_shape(ctx, value, self.shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["shape"] = list(self.shape)
        return config


@register_stage()
class Finite(Validator):
    """Refuse arrays holding NaN or infinite values; the finding counts them.

    Example:
        >>> import numpy as np
        >>> Finite().run(np.array([1.0, np.inf])).codes
        ('tensor.non_finite',)
    """

    modality = "tensor"

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.dtype.kind in "fc":
            _check_values(ctx, value, True, None, None)


@register_stage()
class ValueRange(Validator):
    """Refuse arrays with values outside ``[min_value, max_value]`` (NaN counts as outside).

    Example:
        >>> import numpy as np
        >>> ValueRange(0, 1).run(np.array([0.5, 2.0])).codes
        ('tensor.out_of_range',)
    """

    modality = "tensor"

    def __init__(self, min_value: float | None = None, max_value: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_range_args(type(self).__name__, min_value, max_value)
        self.min_value = min_value
        self.max_value = max_value

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.dtype.kind not in "biuf":
            ctx.add("tensor.dtype", f"a real numeric dtype is required; received dtype={value.dtype}")
            return
        _check_values(ctx, value, True, self.min_value, self.max_value)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(min_value=self.min_value, max_value=self.max_value)
        return config


@register_stage()
class SizeBudget(Validator):
    """Refuse arrays with more than ``max_elements`` elements or ``max_bytes`` bytes.

    Example:
        >>> import numpy as np
        >>> SizeBudget(max_elements=10).run(np.zeros(11)).codes
        ('tensor.too_many_elements',)
    """

    modality = "tensor"

    def __init__(
        self,
        max_elements: int | None = DEFAULT_MAX_ELEMENTS,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_elements = check_number(
            owner, "max_elements", max_elements, minimum=0, integer=True, allow_none=True
        )
        self.max_bytes = check_number(owner, "max_bytes", max_bytes, minimum=0, integer=True, allow_none=True)

    def check(self, value: Any, ctx: Context) -> None:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        _check_budget(ctx, value, self.max_elements, self.max_bytes)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_elements=self.max_elements, max_bytes=self.max_bytes)
        return config
