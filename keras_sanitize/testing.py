"""The conformance harness every stage passes, shipped to users (structlog's habit).

``check_stage(stage, samples)`` asserts the stage contract:

1. its config round-trips through JSON (and Keras's serialization format);
2. a validator leaves every sample unchanged (and unmutated);
3. a filter is idempotent: ``f(f(x)) == f(x)`` on every sample it accepts;
4. on Hypothesis-generated hostile input, calling the stage directly lets
   nothing but :class:`~keras_sanitize.SanitizeError` subclasses escape, and
   ``stage.run`` never raises at all;
5. it pickles (what multiprocessing, Ray, Spark and Dask need) and unpickles to
   an equal stage that gives the same reports on every sample (skipped for a
   class pickle cannot name: one defined inside a function, or in code that is
   not an importable module, such as an ``exec``'d snippet).

Requires ``hypothesis`` (the ``test`` extra).

Example:
    >>> import numpy as np, keras_sanitize as ks
    >>> from keras_sanitize.testing import check_stage
    >>> check_stage(ks.tensor.validators.Finite(), [np.zeros(3)], max_examples=20)
"""

from __future__ import annotations

import copy
import json
import pickle
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from keras_sanitize.config import deserialize_stage, serialize_stage
from keras_sanitize.errors import SanitizeError
from keras_sanitize.findings import Finding
from keras_sanitize.stage import Filter, Stage, Validator

__all__ = ["assert_same", "check_stage"]


def assert_same(a: Any, b: Any, what: str = "value") -> None:
    """Assert two stage values are equal (arrays by content and dtype, others by ==)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), f"{what}: {type(a)} vs {type(b)}"
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{what}: {a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
        )
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{what}: arrays differ"
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{what}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{what}[{k!r}]")
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]")
        return
    assert type(a) is type(b) and a == b, f"{what}: {a!r:.200} != {b!r:.200}"


def _check_config(stage: Stage) -> None:
    cfg = stage.get_config()
    text = json.dumps(cfg)  # must be JSON-able as is
    rebuilt = type(stage).from_config(json.loads(text))
    assert json.dumps(rebuilt.get_config(), sort_keys=True) == json.dumps(cfg, sort_keys=True), (
        f"{type(stage).__name__}: config does not round-trip through JSON"
    )
    keras_format = json.loads(json.dumps(serialize_stage(stage)))
    again = deserialize_stage(keras_format)
    assert type(again) is type(stage)
    assert json.dumps(again.get_config(), sort_keys=True) == json.dumps(cfg, sort_keys=True)


def _importable(cls: type) -> bool:
    """Whether pickle can find ``cls`` again by its module and qualified name."""
    if "<locals>" in cls.__qualname__:
        return False
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is cls


def _check_pickle(stage: Stage, samples: list[Any]) -> None:
    if not _importable(type(stage)):
        return
    again = pickle.loads(pickle.dumps(stage))
    assert type(again) is type(stage) and again == stage, f"{stage.name}: pickling changed the stage"
    for i, sample in enumerate(samples):
        a, b = stage.run(copy.deepcopy(sample)), again.run(copy.deepcopy(sample))
        assert a.ok == b.ok, f"{stage.name}: the unpickled stage decides otherwise on sample {i}"
        assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings], (
            f"{stage.name}: the unpickled stage reports otherwise on sample {i}"
        )
        assert_same(a.value, b.value, f"{stage.name}: unpickled value of sample {i}")


def _direct(stage: Stage, value: Any) -> tuple[Any, list[Finding], bool]:
    """Call ``stage.process`` directly; only SanitizeError may escape."""
    sink: list[Finding] = []
    ctx = stage.context(sink)
    try:
        out = stage.process(value, ctx)
    except SanitizeError:
        return None, sink, True
    return out, sink, ctx.rejected


def check_stage(
    stage: Stage,
    samples: Iterable[Any],
    *,
    hostile: bool = True,
    max_examples: int = 100,
    strategy: Any = None,
) -> None:
    """Assert that ``stage`` honours the stage contract (see the module docstring).

    Args:
        stage: the stage (or pipeline) under test.
        samples: representative inputs, benign and hostile, for checks 2 and 3.
        hostile: also run the Hypothesis property (check 4).
        max_examples: Hypothesis examples for check 4.
        strategy: a Hypothesis strategy of inputs; default
            :func:`keras_sanitize.fuzzing.strategies.hostile_values`.
    """
    _check_config(stage)
    samples = list(samples)
    _check_pickle(stage, samples)
    for i, sample in enumerate(samples):
        before = copy.deepcopy(sample)
        out, _, rejected = _direct(stage, sample)
        if isinstance(stage, Validator) and out is not None:
            assert out is sample, f"validator {stage.name} replaced sample {i}"
            assert_same(sample, before, f"validator {stage.name} mutated sample {i}")
        if isinstance(stage, Filter) and not rejected and out is not None:
            again, _, _ = _direct(stage, out)
            assert_same(again, out, f"filter {stage.name} is not idempotent on sample {i}")
        report = stage.run(sample)
        json.dumps(report.to_dict())
    if hostile:
        _check_hostile(stage, max_examples, strategy)


def _check_hostile(stage: Stage, max_examples: int, strategy: Any) -> None:
    from hypothesis import HealthCheck, given, settings

    from keras_sanitize.fuzzing.strategies import hostile_values

    strat = strategy if strategy is not None else hostile_values()

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strat)
    def prop(value: Any) -> None:
        _direct(stage, value)
        report = stage.run(value)
        assert not any(f.code == "core.internal_error" for f in report.findings), str(report)
        json.dumps(report.to_dict())

    prop()
