"""Tensor verifiers: checks on what a model returns (finite scores, probabilities)."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_sanitize.config import register_stage
from keras_sanitize.findings import Severity
from keras_sanitize.stage import Context, Verifier, check_number
from keras_sanitize.tensor.validators import _not_array

__all__ = ["ProbabilitySimplex"]


@register_stage()
class ProbabilitySimplex(Verifier):
    """Check that each row along ``axis`` is a probability vector (>= 0, sums to 1).

    Meant for model outputs (``ks.wrap(model, outputs=...)``): a softmax that
    does not sum to one means NaNs, overflow or a tampered model.

    Example:
        >>> import numpy as np
        >>> ProbabilitySimplex().run(np.array([[0.2, 0.8]])).ok
        True
        >>> ProbabilitySimplex().run(np.array([[0.9, 0.8]])).codes
        ('tensor.not_probability',)
    """

    modality = "tensor"

    def __init__(self, axis: int = -1, atol: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.axis = check_number(owner, "axis", axis, integer=True)
        self.atol = float(check_number(owner, "atol", atol, minimum=0.0))

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, np.ndarray):
            _not_array(ctx, value)
        if value.ndim == 0 or value.dtype.kind not in "f" or not -value.ndim <= self.axis < value.ndim:
            ctx.add(
                "tensor.not_probability",
                f"a float array with axis {self.axis} is required; received shape={value.shape}, "
                f"dtype={value.dtype}",
                severity=Severity.HIGH,
            )
            return value
        with np.errstate(all="ignore"):  # an overflowing sum is simply not 1
            sums = value.sum(axis=self.axis, dtype=np.float64)
            err = float(np.max(np.abs(sums - 1.0))) if sums.size else 0.0
        lo = float(np.min(value)) if value.size else 0.0
        if not (err <= self.atol) or not (lo >= -self.atol):
            ctx.add(
                "tensor.not_probability",
                f"each row must be >= 0 and sum to 1 (atol={self.atol}); received max |sum - 1| "
                f"= {err:g}, min = {lo:g}",
                severity=Severity.HIGH,
                score=err,
                detail={"max_sum_error": err, "min": lo},
            )
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(axis=self.axis, atol=self.atol)
        return config
