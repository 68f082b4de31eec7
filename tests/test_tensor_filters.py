"""Tensor filters (``keras_sanitize/tensor/filters.py``): the harness, findings, idempotence."""

from __future__ import annotations

import numpy as np
import pytest
from _tensor_helpers import SAMPLES, STAGES, F, in_module

import keras_sanitize as ks
from keras_sanitize.testing import check_stage


def test_filters_report_and_are_idempotent() -> None:
    x = np.array([np.nan, 2.0, -np.inf, 0.5])
    r = F.ReplaceNonFinite().run(x)
    assert r.ok and r.codes == ("tensor.non_finite_replaced",) and np.isfinite(r.value).all()
    assert r.findings[0].action is ks.Action.SANITIZE
    assert not np.isnan(x[1:2]).any() and np.isnan(x[0])  # input not mutated
    clipped = F.Clip(0, 1).run(np.array([-1.0, 0.5, 3.0]))
    assert clipped.value.tolist() == [0.0, 0.5, 1.0] and clipped.findings[0].detail["count"] == 2


@pytest.mark.parametrize("stage", in_module(STAGES, "filters"), ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)
