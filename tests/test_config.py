"""Configuration (``keras_sanitize/config.py`` and what it gathers): JSON round trips, named errors."""

from __future__ import annotations

import json

import pytest
from _core_helpers import NoBang, Upper

import keras_sanitize as ks


def test_pipeline_config_round_trips_through_json() -> None:
    pipe = ks.Pipeline([Upper(), ks.Pipeline([NoBang()], mode="monitor")], modality="text", fail_fast=False)
    cfg = json.loads(json.dumps(pipe.get_config()))
    again = ks.Pipeline.from_config(cfg)
    assert again.get_config() == cfg
    assert again.run("a!").value == "A!"


def test_config_errors_name_the_argument() -> None:
    with pytest.raises(ks.ConfigError, match="mode"):
        ks.Pipeline([], mode="shadow")
    with pytest.raises(ks.ConfigError, match="stages\\[0\\]"):
        ks.Pipeline(["nope"])  # type: ignore[list-item]
    with pytest.raises(ks.ConfigError, match="policy"):
        NoBang(policy={"test.bang": "explode"})
    with pytest.raises(ks.ConfigError, match="max_elements"):
        ks.tensor.validators.SizeBudget(max_elements=-1)
    with pytest.raises(ks.ConfigError, match="unknown stage"):
        ks.deserialize_stage({"class_name": "NoSuchStage", "config": {}})
