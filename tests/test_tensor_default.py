"""The tensor package (``keras_sanitize/tensor/__init__.py``): default(), Structured, from_model."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from _tensor_helpers import SAMPLES, STAGES, in_module

import keras_sanitize as ks
from keras_sanitize.testing import check_stage


def test_default_pipeline_passes_ordinary_arrays() -> None:
    pipe = ks.tensor.default()
    for value in (np.random.default_rng(0).random((4, 8)), [[1, 2], [3, 4]], 3.0, np.zeros(0)):
        assert pipe.run(value).ok, value


@pytest.fixture(scope="module")
def keras_mod() -> Any:
    return pytest.importorskip("keras")


def test_from_model_single_input(keras_mod: Any) -> None:
    keras = keras_mod
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    guard = ks.tensor.from_model(model)
    ok = guard.run(np.ones((3, 4)))
    assert ok.ok and ok.value.dtype == np.float32
    assert guard.run(np.ones((3, 5))).codes == ("tensor.shape",)
    assert guard.run(np.ones((4,))).codes == ("tensor.shape",)  # missing batch dim
    assert guard.run(np.full((1, 4), np.nan)).codes == ("tensor.non_finite",)
    cfg = json.loads(json.dumps(ks.serialize_stage(guard)))
    assert ks.deserialize_stage(cfg).run(np.ones((3, 5))).codes == ("tensor.shape",)


def test_from_model_dict_and_list_inputs(keras_mod: Any) -> None:
    keras = keras_mod
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b", dtype="int32")
    merged = keras.layers.Concatenate()([a, keras.ops.cast(b, "float32")])
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(merged))
    guard = ks.tensor.from_model(model)
    good = guard.run({"a": np.ones((2, 3)), "b": np.ones((2, 2), np.int64)})
    assert good.ok and good.value["b"].dtype == np.int32
    bad = guard.run({"a": np.ones((2, 3)), "b": np.full((2, 2), 0.5)})
    assert not bad.ok and bad.findings[0].detail["input"] == "b"
    assert guard.run({"a": np.ones((2, 3))}).codes == ("tensor.structure",)
    listed = keras.Model([a, b], keras.layers.Dense(1)(merged))
    lguard = ks.tensor.from_model(listed)
    assert lguard.run([np.ones((1, 3)), np.ones((1, 2), np.int32)]).ok
    assert lguard.run([np.ones((1, 3))]).codes == ("tensor.structure",)
    model.predict({"a": good.value["a"], "b": good.value["b"]}, verbose=0)


def test_from_model_refuses_unbuilt_model(keras_mod: Any) -> None:
    keras = keras_mod
    with pytest.raises(ks.ConfigError, match="input spec"):
        ks.tensor.from_model(keras.Sequential([keras.layers.Dense(2)]))


@pytest.mark.parametrize("stage", in_module(STAGES, None), ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)
