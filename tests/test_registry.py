"""The stage registry and the modality registry (``keras_sanitize/registry.py``)."""

from __future__ import annotations

import json
from typing import Any

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


#: registered names saved policies already use: they must keep loading (names may be added)
SAVED_NAMES = {
    "AudioByteBudget", "AudioDecode", "AudioDownmix", "AudioFormatAllowlist", "AudioHardClip",
    "AudioHeaderLimits", "AudioLowPass", "AudioNormalize", "AudioRemoveDC", "AudioResample",
    "AudioSignalChecks", "AudioSqueezeCompare", "AudioToArray", "AudioTrimPad", "AudioUltrasonic",
    "BidiControls", "Cast", "Charset", "Clip", "Confusables", "ControlChars", "DTypeAllowlist",
    "EscapeNonPrintable", "Finite", "FragmentFilter", "HtmlEscape", "HtmlSanitizer",
    "ImageApplyOrientation", "ImageContentStats", "ImageDecode", "ImageFeatureSqueezing",
    "ImageFirstFrame", "ImageFlattenAlpha", "ImageFormat", "ImageHeader", "ImageReencode",
    "ImageResize", "ImageStripMetadata", "ImageToArray", "InjectionEnsemble", "InjectionModel",
    "InvisibleChars", "JsonEscape", "LinkFilter", "ModelVerifier", "Pipeline", "ProbabilitySimplex",
    "PromptInjectionRules", "Repetition", "ReplaceNonFinite", "ShapeSpec", "SizeBudget",
    "StripInvisible", "Structured", "TensorSpec", "TextLength", "ToArray", "ToText",
    "UnicodeNormalize", "ValueRange", "Whitespace",
}  # fmt: skip


def test_registered_names_of_saved_policies_keep_loading() -> None:
    registered = {k.split(">", 1)[1] for k in registered_stages() if k.startswith("keras_sanitize>")}
    assert registered >= SAVED_NAMES, sorted(SAVED_NAMES - registered)


def test_one_registration_scheme_with_a_modality_prefix() -> None:
    @ks.register_stage("vocab_test", prefix="Image")
    class Blur(ks.Filter):
        def process(self, value: object, ctx: ks.Context) -> object:
            return value

    assert ks.serialize_stage(Blur())["registered_name"] == "vocab_test>ImageBlur"
    assert ks.serialize_stage(ks.image.encoders.Decode())["registered_name"] == "keras_sanitize>ImageDecode"
    assert ks.serialize_stage(ks.audio.encoders.Decode())["registered_name"] == "keras_sanitize>AudioDecode"


def test_deserialize_never_imports_unregistered_modules(tmp_path: Any, monkeypatch: Any) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil_mod.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ks.ConfigError):
        ks.deserialize_stage({"module": "evil_mod", "class_name": "Evil", "registered_name": "evil>Evil"})
    assert not marker.exists()
