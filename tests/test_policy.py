"""Policy files (``keras_sanitize/policy.py``): TOML, JSON and presets through ``Pipeline.from_file``."""

from __future__ import annotations

import json
from typing import Any

import _core_helpers  # noqa: F401  (registers NoBang, which the policy file names)
import pytest

import keras_sanitize as ks


def test_from_file_toml_and_json(tmp_path: Any) -> None:
    toml = tmp_path / "policy.toml"
    toml.write_text(
        'modality = "text"\nmode = "enforce"\n\n[[stages]]\nclass_name = "NoBang"\n'
        '[stages.config]\npolicy = { "test.bang" = "warn" }\n'
    )
    pipe = ks.Pipeline.from_file(toml)
    assert pipe.run("!").ok and pipe.run("!").codes == ("test.bang",)
    js = tmp_path / "policy.json"
    js.write_text(json.dumps(pipe.get_config()))
    assert ks.Pipeline.from_file(js).get_config() == pipe.get_config()
    preset = tmp_path / "preset.toml"
    preset.write_text('preset = "tensor.default"\nmode = "monitor"\n[options]\nshape = [-1, 2]\n')
    p2 = ks.Pipeline.from_file(preset)
    assert p2.run([[1.0, float("nan")]]).ok  # monitor
    assert p2.run([[1.0, float("nan")]]).codes == ("tensor.non_finite",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("x")
    with pytest.raises(ks.ConfigError):
        ks.Pipeline.from_file(bad)
    with pytest.raises(ks.ConfigError):
        ks.Pipeline.from_file(tmp_path / "missing.toml")
