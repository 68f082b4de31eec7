"""The tensor modality: every stage through the harness, plus from_model."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import keras_sanitize as ks
from keras_sanitize.testing import check_stage

V = ks.tensor.validators
F = ks.tensor.filters
E = ks.tensor.encoders

SAMPLES: list[Any] = [
    np.zeros((2, 3), np.float32),
    np.array([1.0, np.nan, -np.inf]),
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.array([True, False]),
    np.zeros((0, 4)),
    np.array(3.5),
]

STAGES = [
    V.TensorSpec(),
    V.TensorSpec(shape=(None, 3), min_value=-1, max_value=1, dtypes=["float32"]),
    V.DTypeAllowlist(["float32", "float64"]),
    V.ShapeSpec([None, 3]),
    V.Finite(),
    V.ValueRange(0, 1),
    V.SizeBudget(max_elements=4, max_bytes=64),
    F.ReplaceNonFinite(nan=0.0, posinf=1.0, neginf=-1.0),
    F.Clip(0.0, 1.0),
    E.ToArray(max_elements=100),
    E.Cast("float16"),
    E.Cast("uint8", scale=255.0),
    ks.tensor.verifiers.ProbabilitySimplex(),
    ks.tensor.default(shape=(None, 3), dtype="float32"),
    ks.tensor.Structured({"a": ks.tensor.default(), "b": ks.tensor.default()}),
    ks.tensor.Structured([ks.tensor.default()]),
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: type(s).__name__)
def test_every_tensor_stage_passes_the_harness(stage: ks.Stage) -> None:
    check_stage(stage, [*SAMPLES, [1, 2, 3], {"a": [1.0], "b": [2.0]}], max_examples=60)


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


def test_filters_report_and_are_idempotent() -> None:
    x = np.array([np.nan, 2.0, -np.inf, 0.5])
    r = F.ReplaceNonFinite().run(x)
    assert r.ok and r.codes == ("tensor.non_finite_replaced",) and np.isfinite(r.value).all()
    assert r.findings[0].action is ks.Action.SANITIZE
    assert not np.isnan(x[1:2]).any() and np.isnan(x[0])  # input not mutated
    clipped = F.Clip(0, 1).run(np.array([-1.0, 0.5, 3.0]))
    assert clipped.value.tolist() == [0.0, 0.5, 1.0] and clipped.findings[0].detail["count"] == 2


def test_cast_saturates_and_refuses_overflow() -> None:
    assert E.Cast("int8")(np.array([-500.0, 1.4, 500.0])).tolist() == [-128, 1, 127]
    assert E.Cast("float32").run(np.array([1e300])).codes == ("tensor.cast_overflow",)
    with pytest.raises(ks.ConfigError):
        E.Cast("str")


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
