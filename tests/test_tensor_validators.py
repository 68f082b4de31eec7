"""Tensor validators (``keras_sanitize/tensor/validators.py``): the harness, TensorSpec's fused checks."""

from __future__ import annotations

import numpy as np
import pytest
from _tensor_helpers import SAMPLES, STAGES, V, in_module

import keras_sanitize as ks
from keras_sanitize.testing import check_stage


def test_tensor_spec_fused_checks() -> None:
    spec = V.TensorSpec(shape=(None, 2), min_value=0, max_value=1)
    assert spec.run(np.array([[0.0, 1.0]])).ok
    assert spec.run(np.array([[0.0, 2.0]])).codes == ("tensor.out_of_range",)
    r = spec.run(np.array([[np.nan, 0.5], [np.inf, 0.0]]))
    assert r.codes == ("tensor.non_finite",)
    assert r.findings[0].detail["nan"] == 1 and r.findings[0].detail["inf"] == 1
    assert spec.run(np.zeros((2, 3))).codes == ("tensor.shape",)
    assert V.TensorSpec().run(np.array(["a"])).codes == ("tensor.dtype",)
    assert V.TensorSpec(dtypes=None).run(np.array([1 + 2j])).codes == ("tensor.dtype",)
    assert "received shape=(2, 3)" in spec.run(np.zeros((2, 3))).findings[0].message


@pytest.mark.parametrize("stage", in_module(STAGES, "validators"), ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)
