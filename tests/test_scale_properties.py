"""Hypothesis properties of the scale entry points that need no Ray cluster.

``SanitizeBatch`` (what each Ray actor runs) on hostile batches: never raises, one
output row per input row, JSON findings, a null value for every refused row;
``summary`` agrees with the rows; the serving replica's ``predict`` lets only
``SanitizeError`` escape; ``import keras_sanitize`` (and ``ks.scale``) never imports Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import hostile_bytes, hostile_text, hostile_values
from keras_sanitize.scale._dataset import _digest

SETTINGS = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
TEXT = ks.scale.SanitizeBatch(ks.text.default(), column="item")
IMAGE = ks.scale.SanitizeBatch(ks.image.default(size=(8, 8)), column="bytes", keep="accepted")


def _column(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


@SETTINGS
@given(st.lists(st.one_of(hostile_text(), hostile_values()), min_size=1, max_size=6))
def test_a_hostile_batch_gives_one_explained_row_per_input(values: list[Any]) -> None:
    out = TEXT({"item": _column(values), "id": np.arange(len(values))})
    assert out["id"].tolist() == list(range(len(values)))  # rows in = rows out, in order
    for ok, codes, findings, value in zip(out["ok"], out["codes"], out["findings"], out["value"]):
        decoded = json.loads(findings)
        assert [f["code"] for f in decoded] == list(codes)
        assert ok or (value is None and any(f["action"] == "reject" for f in decoded))
    counts = ks.scale.summary([{"ok": o, "codes": c} for o, c in zip(out["ok"], out["codes"])])
    assert counts["rows"] == len(values) and counts["accepted"] == int(out["ok"].sum())
    assert isinstance(_digest(_column(values)), str)


@SETTINGS
@given(st.lists(hostile_bytes(), min_size=1, max_size=4))
def test_keep_accepted_keeps_only_accepted_rows(values: list[bytes]) -> None:
    out = IMAGE({"bytes": _column(values)})
    assert len(out["ok"]) <= len(values) and all(out["ok"])
    assert all(isinstance(v, np.ndarray) and v.shape == (8, 8, 3) for v in out["value"])


def test_import_keras_sanitize_never_imports_ray() -> None:
    code = (
        "import sys, keras_sanitize as ks\n"
        "ks.scale.ScaleLimits(); ks.scale.sanitize_dataset; ks.scale.serve_deployment\n"
        "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules, 'ray imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env={**os.environ})


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ks.ConfigError, match="keep"):
        ks.scale.sanitize_dataset(None, ks.text.default(), keep="most")
    with pytest.raises(ks.ConfigError, match="pipeline"):
        ks.scale.sanitize_dataset(None, "text")  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError, match="batch_size"):
        ks.scale.sanitize_dataset(None, ks.text.default(), batch_size=0)
    with pytest.raises(ks.ConfigError, match="max_crashes_per_batch"):
        ks.scale.ScaleLimits(max_crashes_per_batch=0)


def test_a_missing_column_names_the_columns_there_are() -> None:
    with pytest.raises(ks.ConfigError, match=r"no column 'item'.*\['text'\]"):
        TEXT({"text": _column(["hi"])})


@pytest.fixture(scope="module")
def predictor() -> Any:
    import keras

    from keras_sanitize.scale._serve import SanitizedPredictor

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    return SanitizedPredictor({"model": model, "max_items": 8})


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(hostile_values())
def test_the_serving_replica_refuses_bad_requests_with_sanitize_errors(predictor: Any, body: Any) -> None:
    try:
        out = predictor.predict(body)
    except ks.SanitizeError:
        return
    assert len(out["outputs"]) == len(out["reports"]) == len(body)
    json.dumps(out)


def test_the_ledger_blames_the_item_that_was_running() -> None:
    from keras_sanitize.scale._ledger import Ledger

    ledger = Ledger()
    assert ledger.begin("b") == (1, [])  # first attempt: whole batch, nothing to blame
    assert ledger.begin("b") == (2, [])  # it died with no item marked: retry item by item
    ledger.running("b", 0)
    ledger.running("b", 3)
    assert ledger.begin("b") == (3, [3])  # died on item 3
    ledger.running("b", 5)
    assert ledger.begin("b") == (4, [3, 5])
    ledger.done("b")
    assert ledger.begin("b") == (1, [])  # a finished batch is forgotten
