"""The stage registry and the modality registry (``keras_sanitize/registry.py``)."""

from __future__ import annotations

import json

import pytest

import keras_sanitize as ks
from keras_sanitize import _dispatch, cli
from keras_sanitize.registry import MODALITIES, modality_module, registered_stages


def test_class_name_alone_finds_a_stage_as_docs_policy_says() -> None:
    stage = ks.deserialize_stage({"class_name": "Resize", "config": {"size": [8, 8]}})
    assert isinstance(stage, ks.image.encoders.Resize)
    assert ks.deserialize_stage({"class_name": "ImageResize", "config": {"size": [8, 8]}}) == stage


def test_ambiguous_class_names_take_a_modality() -> None:
    assert isinstance(ks.deserialize_stage("image.ToArray"), ks.image.encoders.ToArray)
    assert isinstance(ks.deserialize_stage("audio.ToArray"), ks.audio.encoders.ToArray)
    # the registered short name keeps meaning what it always meant
    assert isinstance(ks.deserialize_stage("ToArray"), ks.tensor.encoders.ToArray)
    with pytest.raises(ks.ConfigError, match=r"ambiguous.*image\.Decode"):
        ks.deserialize_stage("Decode")


def test_saved_configs_do_not_record_private_modules() -> None:
    for key, cls in registered_stages().items():
        if not key.startswith("keras_sanitize>") or cls is ks.Pipeline:
            continue
        try:
            stage = cls() if cls is not ks.image.encoders.Resize else cls((4, 4))
        except (TypeError, ks.ConfigError):
            continue  # needs arguments; the module rule is checked on the others
        module = ks.serialize_stage(stage)["module"]
        assert not any(part.startswith("_") for part in module.split(".")), (key, module)


def test_a_config_saved_with_an_old_private_module_path_still_loads() -> None:
    saved = {
        "module": "keras_sanitize.text._unicode_validators",
        "class_name": "BidiControls",
        "config": {},
        "registered_name": "keras_sanitize>BidiControls",
    }
    stage = ks.deserialize_stage(json.loads(json.dumps(saved)))
    assert type(stage).__name__ == "BidiControls"


def test_one_modality_registry_read_everywhere() -> None:
    assert list(MODALITIES) == ["text", "image", "audio", "tensor"]
    assert set(cli.MODALITIES) == set(MODALITIES)
    for name in MODALITIES:
        assert getattr(ks, name) is modality_module(name)
        assert _dispatch.default_pipeline(name).modality == name
        preset = ks.Pipeline.from_config({"preset": f"{name}.default"})
        assert preset.modality == name
    with pytest.raises(ks.ConfigError, match="modality must be one of"):
        modality_module("video")
