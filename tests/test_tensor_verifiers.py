"""Tensor verifiers (``keras_sanitize/tensor/verifiers.py``): the harness."""

from __future__ import annotations

import pytest
from _tensor_helpers import SAMPLES, STAGES, in_module

import keras_sanitize as ks
from keras_sanitize.testing import check_stage


@pytest.mark.parametrize("stage", in_module(STAGES, "verifiers"), ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)
