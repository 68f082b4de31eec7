"""String-input models (TextVectorization, KerasHub preprocessors) behind wrap, from_model, @sanitize.

The model part needs the TensorFlow backend (strings have no JAX or torch dtype), so it runs in a
child process with KERAS_BACKEND=tensorflow (tests/_strings_check.py); the decorator's handling of
numpy string batches runs here on any backend.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.integrations._strings import string_items

HERE = Path(__file__).resolve().parent
TEXT = ks.text.default(injection_model=False)


@pytest.mark.timeout(300)
def test_string_models_on_tensorflow_backend() -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed (make install adds tensorflow-cpu for this test)")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_strings_check.py")],
        check=False, capture_output=True, text=True, env=env, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok tensorflow")


@pytest.mark.parametrize(
    "batch",
    [
        np.array(["a b", "c"]),
        np.array(["a b", "c"], dtype=object),
        np.array([b"a b", b"c"]),
        np.array(["a b", "c"]).reshape(2, 1),
    ],
)
def test_decorator_takes_numpy_string_batches_in_their_own_form(batch: np.ndarray) -> None:
    seen: list[Any] = []

    @ks.sanitize(text=TEXT, on_reject="skip")
    def predict(text: Any) -> Any:
        seen.append(text)
        return np.ones((len(text), 1))

    out = predict(batch)
    assert out.shape == (2, 1)
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == batch.shape
    assert seen[0].dtype.kind == batch.dtype.kind  # bytes stay bytes, str stays str
    assert [v.decode() if isinstance(v, bytes) else v for v in seen[0].ravel()] == ["a b", "c"]
    seen.clear()
    bad = batch.astype(object).copy()
    bad.ravel()[0] = "x\u202ey"
    out = predict(bad)
    assert np.isnan(out[0]).all() and seen[0].shape == (1, *batch.shape[1:])


def test_wrap_and_from_model_raise_only_config_errors() -> None:
    class Odd:
        inputs = (type("T", (), {"shape": (None, 3), "dtype": "resource"})(),)

        def predict(self, x: Any) -> Any:
            return x

    with pytest.raises(ks.ConfigError, match="resource"):
        ks.wrap(Odd())
    with pytest.raises(ks.ConfigError):
        ks.tensor.from_model(Odd())

    class Broken:
        inputs = (type("T", (), {"shape": property(lambda self: 1 / 0), "dtype": "float32"})(),)

        def predict(self, x: Any) -> Any:
            return x

    with pytest.raises(ks.ConfigError, match="ZeroDivisionError"):
        ks.wrap(Broken())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), st.binary(max_size=8)), max_size=5))
def test_string_items_splits_rows_or_declines(items: list[Any]) -> None:
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    for value in (arr, arr.reshape(-1, 1)):
        split = string_items(value)
        assert split is not None and split[0] == items
    assert string_items(np.zeros((2, 2))) is None
    assert string_items(np.array([["a", "b"]])) is None
