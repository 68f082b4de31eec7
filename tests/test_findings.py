"""Findings and reports (``keras_sanitize/findings.py``): JSON form, echoed values."""

from __future__ import annotations

import json

import numpy as np
from _core_helpers import NoBang, Upper

import keras_sanitize as ks


def test_finding_and_report_are_json() -> None:
    report = ks.Pipeline([Upper(), NoBang()], fail_fast=False).run("hi!")
    data = json.loads(json.dumps(report.to_dict(include_value=True)))
    assert data["ok"] is False
    assert [f["code"] for f in data["findings"]] == ["test.upper", "test.bang"]
    bang = data["findings"][1]
    assert bang["span"] == [2, 3] and bang["stage"] == "no_bang" and bang["action"] == "reject"
    assert set(data["timings"]) == {"upper", "no_bang"}


def test_echo_escapes_invisible_characters() -> None:
    from keras_sanitize.findings import echo

    shown = echo("evil\u202etxt.exe")
    assert "\u202e" not in shown and "\\u202e" in shown
    assert len(echo("x" * 10_000)) < 200


def test_jsonable_detail_handles_odd_values() -> None:
    f = ks.Finding("a.b", "m", detail={"n": np.float32(1.5), "big": 2**80, "nan": float("nan"), "b": b"\x00"})
    json.dumps(f.to_dict())
