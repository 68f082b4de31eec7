"""load_model(): pinned, scanned, then keras.saving.load_model(safe_mode=True) — or ArtifactError."""

from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest

import keras_sanitize as ks
from keras_sanitize.artifacts import _fixtures as fx

keras = pytest.importorskip("keras")


@pytest.fixture
def keras_spy(monkeypatch):
    """Record every call to keras.saving.load_model while still delegating to it."""
    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    return calls


@pytest.fixture
def clean(tmp_path):
    return fx.write_keras(tmp_path / "clean.keras", fx.clean_parts())


def test_clean_model_with_right_hash_loads(clean, keras_spy):
    model = ks.load_model(clean, sha256=ks.artifacts.sha256(clean))
    assert model.predict(np.ones((1, 4), np.float32), verbose=0).shape == (1, 2)
    assert len(keras_spy) == 1
    assert keras_spy[0][1]["safe_mode"] is True
    assert str(keras_spy[0][0][0]).endswith("model.keras")
    assert str(keras_spy[0][0][0]) != str(clean)  # a private copy, not the caller's file


def test_wrong_hash_is_refused_before_keras(clean, keras_spy):
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(clean, sha256="0" * 64)
    assert info.value.report.codes == ("artifact.hash_mismatch",)
    assert keras_spy == []


@pytest.mark.parametrize("name", sorted(fx.HOSTILE))
def test_hostile_files_refused_before_keras(tmp_path, name, keras_spy):
    marker = tmp_path / f"marker_{name}"
    path = fx.HOSTILE[name](tmp_path, marker)
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(path)
    report = info.value.report
    assert report is not None and not report.ok
    assert fx.EXPECTED[name] in report.codes
    assert report.value["sha256"] == ks.artifacts.sha256(path)
    assert keras_spy == []
    assert not marker.exists()
    assert str(path) in str(info.value) or path.name in str(info.value)


def test_hostile_files_even_with_legacy_allowed(tmp_path, keras_spy):
    marker = tmp_path / "marker"
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(fx.legacy_h5_lambda(tmp_path, marker), allow_legacy_h5=True)
    assert "artifact.lambda_layer" in info.value.report.codes
    assert keras_spy == [] and not marker.exists()


def test_payloads_are_live_controls(tmp_path):
    """The fixtures really run code when loaded unsafely, so 'no marker' above means something."""
    marker = tmp_path / "bytecode"
    path = fx.lambda_bytecode(tmp_path, marker)
    with contextlib.suppress(Exception):  # only the side effect matters
        keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()
    marker = tmp_path / "pickle"
    pickle.loads(fx.pickle_renamed(tmp_path, marker).read_bytes())  # the control: it runs
    assert marker.exists()


@pytest.mark.parametrize("where", ["https://example.com/m.keras", "hf://user/model", "gs://b/m.keras"])
def test_remote_paths_refused(where, keras_spy):
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(where)
    assert info.value.report.codes == ("artifact.remote_path",)
    assert keras_spy == []


def test_directories_and_missing_files_refused(tmp_path, keras_spy):
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(tmp_path)
    assert info.value.report.codes == ("artifact.not_a_file",)
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(tmp_path / "absent.keras")
    assert info.value.report.codes == ("artifact.unreadable",)
    assert keras_spy == []


def test_weights_only_file_is_not_a_model(tmp_path, keras_spy):
    path = tmp_path / "w.weights.h5"
    path.write_bytes(fx.clean_parts().weights)
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(path)
    assert "artifact.not_a_model" in info.value.report.codes
    assert keras_spy == []


def test_keras_refusal_becomes_artifact_error(tmp_path, keras_spy):
    """A config the scan accepts but Keras cannot build is still an ArtifactError, never a raw ValueError."""
    parts = fx.clean_parts()
    cfg = dict(parts.config, class_name="Functional")
    path = fx.write_keras(tmp_path / "odd.keras", parts, cfg)
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(path)
    assert info.value.report.codes[-1] == "artifact.load_failed"
    assert len(keras_spy) == 1


def test_bad_arguments_are_config_errors(clean):
    with pytest.raises(ks.ConfigError):
        ks.load_model(clean, sha256="nope")
    with pytest.raises(ks.ConfigError):
        ks.load_model(clean, allow_modules=[1])
    with pytest.raises(ks.ConfigError):
        ks.load_model(clean, custom_objects=[("a", 1)])  # type: ignore[arg-type]


def test_findings_name_the_callers_file(tmp_path):
    path = fx.pickle_renamed(tmp_path, tmp_path / "marker")
    with pytest.raises(ks.ArtifactError) as info:
        ks.load_model(path)
    assert info.value.report.findings[0].message.startswith("pickle_renamed.keras is a pickle")
    assert info.value.report.value["path"] == str(path)


@keras.saving.register_keras_serializable(package="ks_artifacts_test")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2


def test_custom_objects_modules_are_trusted(tmp_path, keras_spy):
    model = keras.Sequential([keras.Input((4,)), Doubler(), keras.layers.Dense(2)])
    path = tmp_path / "custom.keras"
    model.save(path)
    report = ks.artifacts.scan(path)
    assert "artifact.unsafe_module" in report.codes  # this test module is not keras
    loaded = ks.load_model(path, custom_objects={"Doubler": Doubler})
    assert isinstance(loaded.layers[0], Doubler)
    loaded = ks.load_model(path, allow_modules=(Doubler.__module__,))
    assert isinstance(loaded.layers[0], Doubler)
    with pytest.raises(ks.ArtifactError):
        ks.load_model(path)
