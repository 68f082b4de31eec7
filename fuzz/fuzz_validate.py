"""Fuzz ``ks.validate`` on raw bytes, on the same bytes as text, and as a float array."""

from __future__ import annotations

import json

import numpy as np

import keras_sanitize as ks


def test_one_input(data: bytes) -> None:
    """Only a crash, a non-SanitizeError exception or an internal-error finding is a bug."""
    for value in (data, data.decode("utf-8", "replace")):
        report = ks.validate(value)
        assert "core.internal_error" not in report.codes, str(report)
        json.dumps(report.to_dict())
    usable = len(data) - len(data) % 4
    arr = np.frombuffer(data[:usable], dtype=np.float32)
    report = ks.validate(arr)
    assert report.ok == bool(np.isfinite(arr).all()), str(report)
