"""Tensor encoders (``keras_sanitize/tensor/encoders.py``): the harness, ToArray's bounds, Cast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _tensor_helpers import SAMPLES, STAGES, E, in_module

import keras_sanitize as ks
from keras_sanitize.testing import check_stage


def test_to_array_refuses_before_allocating() -> None:
    to = E.ToArray(max_elements=10)
    assert to.run([[1, 2], [3]]).codes == ("tensor.not_numeric",)  # ragged
    assert to.run([1, "2"]).codes == ("tensor.not_numeric",)
    assert to.run([2**70]).codes == ("tensor.not_numeric",)
    assert to.run(list(range(11))).codes == ("tensor.too_many_elements",)  # a limit, named as one
    deep: Any = 1.0
    for _ in range(10_000):
        deep = [deep]
    assert to.run(deep).codes == ("tensor.not_numeric",)
    assert to.run(np.array([{"a": 1}], dtype=object)).codes == ("tensor.dtype",)
    assert to.run((1.0, 2.0)).value.tolist() == [1.0, 2.0]


def test_cast_saturates_and_refuses_overflow() -> None:
    assert E.Cast("int8")(np.array([-500.0, 1.4, 500.0])).tolist() == [-128, 1, 127]
    assert E.Cast("float32").run(np.array([1e300])).codes == ("tensor.cast_overflow",)
    with pytest.raises(ks.ConfigError):
        E.Cast("str")


@pytest.mark.parametrize("stage", in_module(STAGES, "encoders"), ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)
