"""Fuzz the tensor pipeline with arrays of every dtype and shape decoded from bytes."""

from __future__ import annotations

import numpy as np

import keras_sanitize as ks

_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_]
_PIPE = ks.tensor.default(shape=(None, 4), dtype="float32", value_range=(-1e6, 1e6))
_CAST = ks.tensor.encoders.Cast("int8", scale=3.0)


def test_one_input(data: bytes) -> None:
    """Arrays from the fuzzer's bytes through the strict guard and a saturating cast."""
    if len(data) < 2:
        return
    dtype = np.dtype(_DTYPES[data[0] % len(_DTYPES)])
    body = data[2:]
    body = body[: len(body) - len(body) % dtype.itemsize]
    arr = np.frombuffer(body, dtype=dtype)
    if data[1] % 2 and arr.size % 4 == 0:
        arr = arr.reshape(-1, 4)
    for stage in (_PIPE, _CAST):
        report = stage.run(arr)
        assert "core.internal_error" not in report.codes, str(report)
    if report.ok:
        assert report.value.dtype == np.int8
