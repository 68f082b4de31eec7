"""Tensor filters: replace non-finite values, clip to a range. Both idempotent."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_sanitize.config import register_stage
from keras_sanitize.findings import Action, Severity
from keras_sanitize.stage import Context, Filter, check_number
from keras_sanitize.tensor.validators import _check_range_args, _not_array

__all__ = ["Clip", "ReplaceNonFinite"]


@register_stage()
class ReplaceNonFinite(Filter):
    """Replace NaN, +Inf and -Inf with finite values (default 0, max, min of dtype).

    Example:
        >>> import numpy as np
        >>> ReplaceNonFinite(nan=0.0)(np.array([1.0, np.nan])).tolist()
        [1.0, 0.0]
    """

    modality = "tensor"

    def __init__(
        self,
        nan: float = 0.0,
        posinf: float | None = None,
        neginf: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.nan = float(check_number(owner, "nan", nan))
        self.posinf = check_number(owner, "posinf", posinf, allow_none=True)
        self.neginf = check_number(owner, "neginf", neginf, allow_none=True)
        for name in ("nan", "posinf", "neginf"):
            v = getattr(self, name)
            if v is not None and not np.isfinite(v):
                from keras_sanitize.errors import ConfigError

                raise ConfigError(f"{owner}: {name} must be finite. Received: {name}={v!r}")

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.dtype.kind not in "fc" or value.size == 0:
            return value
        lo, hi = float(np.min(value.real)), float(np.max(value.real))
        if np.isfinite(lo) and np.isfinite(hi) and value.dtype.kind == "f":
            return value  # fast path: nothing to replace
        bad = int(np.count_nonzero(~np.isfinite(value)))
        if not bad:
            return value
        out = np.nan_to_num(value, copy=True, nan=self.nan, posinf=self.posinf, neginf=self.neginf)
        ctx.add(
            "tensor.non_finite_replaced",
            f"replaced {bad} non-finite values (NaN -> {self.nan}); finite values are required",
            severity=Severity.LOW,
            action=Action.SANITIZE,
            detail={"count": bad},
        )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(nan=self.nan, posinf=self.posinf, neginf=self.neginf)
        return config


@register_stage()
class Clip(Filter):
    """Clip values into ``[min_value, max_value]``; reports how many were changed.

    Example:
        >>> import numpy as np
        >>> Clip(0, 1)(np.array([-1.0, 0.5, 3.0])).tolist()
        [0.0, 0.5, 1.0]
    """

    modality = "tensor"

    def __init__(self, min_value: float | None = None, max_value: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_range_args(type(self).__name__, min_value, max_value)
        self.min_value = min_value
        self.max_value = max_value

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.dtype.kind not in "biuf" or value.size == 0:
            return value
        lo = float(np.min(value)) if value.dtype.kind != "b" else 0.0
        hi = float(np.max(value)) if value.dtype.kind != "b" else 1.0
        below = self.min_value is not None and not lo >= self.min_value
        above = self.max_value is not None and not hi <= self.max_value
        if not (below or above):
            return value
        out = np.asarray(np.clip(value, self.min_value, self.max_value))
        changed = int(np.count_nonzero(out != value))
        ctx.add(
            "tensor.clipped",
            f"clipped {changed} values into [{self.min_value}, {self.max_value}]; received "
            f"min={lo:g}, max={hi:g}",
            severity=Severity.LOW,
            action=Action.SANITIZE,
            detail={"count": changed, "min": lo, "max": hi},
        )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(min_value=self.min_value, max_value=self.max_value)
        return config
