"""scan(): the hostile files of issue 7 and more, refused without running anything."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.artifacts import ScanLimits, scan
from keras_sanitize.artifacts import _fixtures as fx


@pytest.fixture(scope="module")
def parts():
    return fx.clean_parts()


@pytest.fixture
def clean(tmp_path, parts):
    return fx.write_keras(tmp_path / "clean.keras", parts)


def _with(parts, layer, index=1):
    cfg = copy.deepcopy(parts.config)
    cfg["config"]["layers"].insert(index, layer)
    return cfg


def test_clean_model_scans_clean(clean):
    report = scan(clean)
    assert report.ok, str(report)
    assert report.findings == ()
    assert report.modality == "artifact"
    value = report.value
    assert value["format"] == "keras-zip"
    assert value["keras_version"]  # metadata.json's version is recorded
    assert value["config"]["class_name"] == "Sequential"
    assert value["datasets"] == 2
    json.dumps(report.to_dict(include_value=True))


@pytest.mark.parametrize("name", sorted(fx.HOSTILE))
def test_hostile_file_refused_and_nothing_runs(tmp_path, name):
    marker = tmp_path / f"marker_{name}"
    path = fx.HOSTILE[name](tmp_path, marker)
    report = scan(path)
    assert not report.ok
    assert fx.EXPECTED[name] in report.codes, str(report)
    assert not marker.exists()
    for finding in report.rejections:
        assert finding.message and finding.stage == "artifacts.scan"
    json.dumps(report.to_dict(include_value=True))


def test_scan_imports_nothing_from_the_files(tmp_path):
    """In a fresh interpreter: scanning every hostile file imports neither keras nor the payloads."""
    for name, build in fx.HOSTILE.items():
        build(tmp_path, tmp_path / f"marker_{name}")
    code = (
        "import sys, glob\n"
        "from keras_sanitize.artifacts import scan\n"
        f"root = {str(tmp_path)!r}\n"
        "paths = sorted(glob.glob(root + '/*.keras') + glob.glob(root + '/*.h5'))\n"
        "assert len(paths) == 13, paths\n"
        "bad = [p for p in paths if scan(p).ok]\n"
        "assert not bad, bad\n"
        "loaded = [m for m in ('keras', 'subprocess', 'torch', 'tensorflow') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = set(filter(None, out.stdout.strip().split(",")))
    assert "keras" not in loaded and "torch" not in loaded and "tensorflow" not in loaded
    assert not list(tmp_path.glob("marker_*"))


def test_lambda_depth_is_reported(tmp_path):
    report = scan(fx.nested_lambda(tmp_path, tmp_path / "m"))
    (finding,) = [f for f in report.findings if f.code == "artifact.lambda_layer"]
    assert "inner1" in finding.message and "inner2" in finding.message
    assert finding.severity is ks.Severity.CRITICAL
    assert finding.detail["bytecode"] is True


@pytest.mark.parametrize(
    "layer, code",
    [
        ({"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
          "config": {"name": "sm", "filepath": "/tmp/saved", "call_endpoint": "serve"}},
         "artifact.unsafe_layer"),
        ({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
          "config": {"name": "d2", "units": 2, "activation": {
              "module": "keras.utils", "class_name": "function", "config": "get_file",
              "registered_name": "function"}}}, "artifact.non_modelling_api"),
        ({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
          "config": {"name": "d3", "units": 2, "kernel_regularizer": {
              "module": "os", "class_name": "system", "config": {}, "registered_name": None}}},
         "artifact.unsafe_module"),
        ({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
          "config": {"name": "d4", "units": 2, "kernel_constraint": {
              "module": "builtins", "class_name": "function", "config": "eval",
              "registered_name": "function"}}}, "artifact.unsafe_function"),
        ({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
          "config": {"name": "d5", "units": 2, "bias_initializer": {
              "module": "keras.initializers", "class_name": "function", "config": "os.system('x')",
              "registered_name": "function"}}}, "artifact.unsafe_function"),
        ({"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
          "config": {"name": "td", "layer": {"module": "evil_pkg.layers", "class_name": "Boom",
                                             "config": {}, "registered_name": "evil>Boom"}}},
         "artifact.unsafe_module"),
        ({"class_name": "Lambda", "config": {"name": "legacy_fn", "function": "system", "module": "os",
                                             "function_type": "function"}}, "artifact.unsafe_module"),
    ],
    ids=["tfsm", "get_file_activation", "os_regularizer", "eval_constraint", "non_identifier_fn",
         "wrapped_foreign_class", "keras2_function_lambda"],
)
def test_config_rules(tmp_path, parts, layer, code):
    path = fx.write_keras(tmp_path / "m.keras", parts, _with(parts, layer))
    report = scan(path)
    assert not report.ok and code in report.codes, str(report)


def test_allow_modules_admits_own_package(tmp_path, parts):
    layer = {"module": "my_pkg.layers", "class_name": "Mine", "registered_name": "my_pkg>Mine",
             "config": {"name": "mine"}}
    path = fx.write_keras(tmp_path / "m.keras", parts, _with(parts, layer))
    assert "artifact.unsafe_module" in scan(path).codes
    report = scan(path, allow_modules=("my_pkg",))
    assert report.ok, str(report)
    # prefix collisions are not allowed: "my_pkg" does not admit "my_pkg_evil"
    layer["module"] = "my_pkg_evil"
    path = fx.write_keras(tmp_path / "m2.keras", parts, _with(parts, layer))
    assert not scan(path, allow_modules=("my_pkg",)).ok


def test_custom_object_registry_name_warns(tmp_path, parts):
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": "Custom>Dense",
             "config": {"name": "d", "units": 2}}
    report = scan(fx.write_keras(tmp_path / "m.keras", parts, _with(parts, layer)))
    assert report.ok and report.codes == ("artifact.custom_object",)


@pytest.mark.parametrize("bad", [["x"], "keras", "os;rm", "builtins", 3])
def test_bad_allow_modules_is_config_error(clean, bad):
    if bad == "keras":  # a single string is accepted as one module
        assert scan(clean, allow_modules=bad).ok
        return
    with pytest.raises(ks.ConfigError):
        scan(clean, allow_modules=bad if not isinstance(bad, list) else [bad])


def test_config_duplicate_keys_and_invalid_json(tmp_path, parts):
    raw = json.dumps(parts.config)[:-1] + ', "class_name": "Lambda"}'
    report = scan(fx.write_keras(tmp_path / "dup.keras", parts, raw.encode()))
    assert "artifact.config_duplicate_key" in report.codes and not report.ok
    report = scan(fx.write_keras(tmp_path / "bad.keras", parts, b"{not json"))
    assert report.codes[0] == "artifact.config_invalid" and not report.ok
    deep = b"[" * 100_000 + b"]" * 100_000
    report = scan(fx.write_keras(tmp_path / "deep.keras", parts, deep))
    assert "artifact.config_invalid" in report.codes


def test_config_limits(tmp_path, parts):
    path = fx.write_keras(tmp_path / "m.keras", parts)
    report = scan(path, limits=ScanLimits(max_json_nodes=5))
    assert "artifact.config_too_large" in report.codes
    report = scan(path, limits=ScanLimits(max_config_bytes=100))
    assert "artifact.config_too_large" in report.codes
    with pytest.raises(ks.ConfigError):
        ScanLimits(max_members=0)
    with pytest.raises(ks.ConfigError):
        scan(path, limits={"max_members": 3})  # type: ignore[arg-type]


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def test_zip_member_rules(tmp_path, parts):
    base = [("metadata.json", parts.metadata), ("config.json", json.dumps(parts.config)),
            ("model.weights.h5", parts.weights)]
    link = zipfile.ZipInfo("assets/link")
    link.create_system = 3
    link.external_attr = (0o120777 << 16)
    cases = {
        "artifact.zip_symlink": [(link, "/etc/passwd")],
        "artifact.zip_unexpected_member": [("evil.py", "import os")],
        "artifact.zip_slip": [("C:/Windows/x", "x")],
    }
    for code, extra in cases.items():
        report = scan(_zip(tmp_path / f"{code}.keras", base + extra))
        assert code in report.codes and not report.ok, (code, str(report))
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = _zip(tmp_path / "dup.keras", [*base, ("config.json", "{}")])
    report = scan(path)
    assert "artifact.zip_duplicate_member" in report.codes and not report.ok


def test_pickles_inside_the_archive(tmp_path, parts):
    payload = pickle.dumps(fx._Touch(tmp_path / "marker"))
    path = fx.write_keras(tmp_path / "m.keras", parts, extra=(("assets/tokenizer.bin", payload),))
    report = scan(path)
    assert "artifact.pickle" in report.codes and not report.ok
    assert "pathlib.Path.touch" in report.findings[0].detail["imports"]
    buf = io.BytesIO()
    np.savez(buf, a=np.array([{"x": 1}], dtype=object))
    npz = tmp_path / "npz.keras"
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("metadata.json", parts.metadata)
        zf.writestr("config.json", json.dumps(parts.config))
        zf.writestr("model.weights.npz", buf.getvalue())
    report = scan(npz)
    assert "artifact.pickle" in report.codes, str(report)
    assert not (tmp_path / "marker").exists()


def test_clean_npz_weights_pass(tmp_path, parts):
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros((4, 2), np.float32))
    path = tmp_path / "npz.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", parts.metadata)
        zf.writestr("config.json", json.dumps(parts.config))
        zf.writestr("model.weights.npz", buf.getvalue())
    assert scan(path).ok


def _edit_weights(parts, edit):
    buf = io.BytesIO(parts.weights)
    with h5py.File(buf, "r+") as f:
        edit(f)
    return buf.getvalue()


def test_hdf5_rules(tmp_path, parts):
    def soft(f):
        f["layers/dense/alias"] = h5py.SoftLink("/layers/dense/vars/0")

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource("/etc/hostname", "data", shape=(4,))
        f["layers/dense"].create_virtual_dataset("v", layout)

    def objref(f):
        f["layers/dense"].create_dataset("refs", data=[f["layers"].ref], dtype=h5py.ref_dtype)

    def pickled_attr(f):
        f["layers/dense"].attrs["blob"] = np.void(pickle.dumps(fx._Touch(tmp_path / "marker")))

    def bomb(f):
        f["layers/dense"].create_dataset("huge", shape=(1 << 20, 1 << 20), dtype="f8", chunks=(1, 1024))

    def vlen(f):
        f["layers/dense"].create_dataset("s", data=np.array(["a", "b"], dtype=object),
                                         dtype=h5py.string_dtype())

    cases = {"artifact.hdf5_soft_link": soft, "artifact.hdf5_virtual_dataset": virtual,
             "artifact.hdf5_object_dtype": objref, "artifact.pickle": pickled_attr,
             "artifact.hdf5_dataset_bomb": bomb}
    for code, edit in cases.items():
        path = fx.write_keras(tmp_path / f"{code}.keras", parts, weights=_edit_weights(parts, edit))
        report = scan(path)
        assert code in report.codes and not report.ok, (code, str(report))
    path = fx.write_keras(tmp_path / "vlen.keras", parts, weights=_edit_weights(parts, vlen))
    assert "artifact.hdf5_object_dtype" in scan(path).codes
    assert not (tmp_path / "marker").exists()


def _deflated_with_external_link(tmp_path, parts):
    """A deflated .keras whose weights file holds an HDF5 external link."""

    def ext(f):
        f["layers/dense/x"] = h5py.ExternalLink("/etc/passwd", "/")

    path = tmp_path / "deflated.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", parts.metadata)
        zf.writestr("config.json", json.dumps(parts.config))
        zf.writestr("model.weights.h5", _edit_weights(parts, ext))
    return path


def test_deflated_weights_are_scanned_too(tmp_path, parts):
    path = _deflated_with_external_link(tmp_path, parts)
    assert "artifact.hdf5_external_link" in scan(path).codes


def test_legacy_h5(tmp_path):
    path = fx.legacy_h5_lambda(tmp_path, tmp_path / "marker")
    report = scan(path)
    assert {"artifact.legacy_h5", "artifact.lambda_layer"} <= set(report.codes)
    report = scan(path, allow_legacy_h5=True)
    assert "artifact.legacy_h5" not in report.codes and not report.ok
    assert report.value["format"] == "hdf5-legacy-model"
    assert report.value["keras_version"] == "2.12.0"


def test_weights_only_h5_is_clean(tmp_path, parts):
    path = tmp_path / "w.weights.h5"
    path.write_bytes(parts.weights)
    report = scan(path)
    assert report.ok and report.value["format"] == "hdf5-weights"


def test_polyglots(tmp_path, clean, parts):
    h5_then_zip = tmp_path / "poly.keras"
    h5_then_zip.write_bytes(parts.weights + clean.read_bytes())
    report = scan(h5_then_zip)
    assert "artifact.polyglot" in report.codes and not report.ok
    prefixed = tmp_path / "prefixed.keras"
    prefixed.write_bytes(b"#!/bin/sh\necho hi\n" + clean.read_bytes())
    report = scan(prefixed)
    assert "artifact.polyglot" in report.codes and not report.ok
    pickle_zip = tmp_path / "pz.keras"
    pickle_zip.write_bytes(pickle.dumps([1, 2]) + clean.read_bytes())
    assert {"artifact.pickle", "artifact.polyglot"} <= set(scan(pickle_zip).codes)


@pytest.mark.parametrize(
    "data, code",
    [(b"", "artifact.unknown_format"), (b"hello world", "artifact.unknown_format"),
     (b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "artifact.pickle")],
)
def test_other_formats(tmp_path, data, code):
    path = tmp_path / "x.keras"
    path.write_bytes(data)
    report = scan(path)
    assert code in report.codes and not report.ok


def test_joblib_style_compressed_pickle(tmp_path):
    import zlib

    path = tmp_path / "model.joblib"
    path.write_bytes(zlib.compress(pickle.dumps({"w": [1.0]})))
    assert "artifact.pickle" in scan(path).codes


def test_unreadable_inputs_are_findings_not_exceptions(tmp_path):
    assert scan(tmp_path / "absent.keras").codes == ("artifact.unreadable",)
    assert scan(tmp_path).codes == ("artifact.not_a_file",)
    for url in ("https://example.com/m.keras", "hf://user/model", "s3://bucket/m.keras"):
        assert scan(url).codes == ("artifact.remote_path",)


def test_pin_inside_scan(clean):
    assert scan(clean, sha256=ks.artifacts.sha256(clean)).ok
    report = scan(clean, sha256="0" * 64)
    assert "artifact.hash_mismatch" in report.codes and not report.ok


def test_findings_are_capped_per_code(tmp_path, parts):
    cfg = copy.deepcopy(parts.config)
    for i in range(50):
        cfg["config"]["layers"].insert(1, fx._lambda_layer(tmp_path / "m", f"lam{i}"))
    report = scan(fx.write_keras(tmp_path / "many.keras", parts, cfg))
    assert report.codes.count("artifact.lambda_layer") == 20
    assert report.codes[-1] == "artifact.findings_truncated"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048), cut=st.integers(0, 20000))
def test_arbitrary_bytes_never_raise(tmp_path_factory, parts, data, cut):
    """Random bytes, and a real model truncated or overwritten at random: always a Report."""
    d = tmp_path_factory.mktemp("fuzz")
    raw = (d / "seed.keras")
    fx.write_keras(raw, parts)
    blob = bytearray(raw.read_bytes())
    pos = min(cut, len(blob))
    mutated = bytes(blob[:pos]) + data + bytes(blob[pos + len(data):])
    for payload in (data, mutated, bytes(blob[:pos])):
        path = d / "x.keras"
        path.write_bytes(payload)
        report = scan(path)
        assert isinstance(report, ks.Report)
        assert "artifact.internal_error" not in report.codes, str(report)


def test_compile_config_is_walked(tmp_path, parts):
    cfg = copy.deepcopy(parts.config)
    cfg["compile_config"] = {"optimizer": "adam", "loss": {
        "module": "keras.utils", "class_name": "function", "config": "get_file",
        "registered_name": "function"}}
    report = scan(fx.write_keras(tmp_path / "m.keras", parts, cfg))
    assert "artifact.non_modelling_api" in report.codes and not report.ok


def test_lambda_with_a_keras_function_only_warns(tmp_path, parts):
    layer = fx._lambda_layer(tmp_path / "m")
    layer["config"]["function"] = {"module": "keras.activations", "class_name": "function",
                                   "config": "relu", "registered_name": "function"}
    report = scan(fx.write_keras(tmp_path / "m.keras", parts, _with(parts, layer)))
    assert report.ok and report.codes == ("artifact.lambda_layer",)
    assert report.findings[0].action is ks.Action.WARN


def test_a_real_keras_legacy_h5_passes_when_allowed(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "legacy.h5"
    model.save(path)
    assert scan(path).codes == ("artifact.legacy_h5",)
    report = scan(path, allow_legacy_h5=True)
    assert report.ok, str(report)
    assert report.value["keras_version"] == keras.__version__
    loaded = ks.load_model(path, allow_legacy_h5=True, compile=False)
    assert loaded.output_shape == (None, 2)
    with pytest.raises(ks.ArtifactError):
        ks.load_model(path)


def test_plain_npz_weights(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, kernel=np.zeros((4, 2), np.float32), bias=np.zeros(2, np.float32))
    report = scan(path)
    assert report.ok and report.value["format"] == "npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    report = scan(path)
    assert "artifact.pickle" in report.codes and not report.ok


def test_npz_members_get_the_zip_rules(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
        zf.writestr("a.npy", header + bytes(8 << 20))
    assert "artifact.zip_bomb" in scan(path).codes


def test_large_compressed_weights_go_through_a_temp_file(tmp_path, parts, monkeypatch):
    from keras_sanitize.artifacts import _zipscan

    monkeypatch.setattr(_zipscan, "_IN_MEMORY", 0)

    path = _deflated_with_external_link(tmp_path, parts)
    assert "artifact.hdf5_external_link" in scan(path).codes
    assert not list(tmp_path.glob("ks_scan_*"))


def test_asset_peeks_are_capped(tmp_path, parts, monkeypatch):
    from keras_sanitize.artifacts import _zipscan

    monkeypatch.setattr(_zipscan, "MAX_PEEKS", 2)
    extra = tuple((f"assets/a{i}.txt", b"word\n") for i in range(5))
    report = scan(fx.write_keras(tmp_path / "m.keras", parts, extra=extra))
    assert report.ok and report.codes == ("artifact.assets_not_inspected",)


def test_public_surface_and_light_import():
    assert sorted(ks.artifacts.__all__) == sorted([
        "ALLOWED_MEMBERS", "DEFAULT_ALLOWED_MODULES", "DEFAULT_LIMITS", "NON_MODELLING_APIS", "UNSAFE_LAYERS",
        "Advisory", "ScanLimits", "advisories", "audit", "load_model", "scan", "sha256", "verify"])
    assert ks.load_model is ks.artifacts.load_model and ks.audit is ks.artifacts.audit
    code = ("import sys, keras_sanitize as ks\nks.artifacts.scan\n"
            "print(sorted(m for m in ('keras', 'h5py', 'jax', 'tensorflow', 'torch') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


_HOSTILE_NODES = [
    ({"module": "subprocess", "class_name": "Popen", "config": {}}, "artifact.unsafe_module"),
    ({"class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None, "closure": None}},
     "artifact.python_bytecode"),
    ({"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"},
     "artifact.unsafe_function"),
    ({"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"},
     "artifact.non_modelling_api"),
]
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=_json, which=st.integers(0, len(_HOSTILE_NODES) - 1),
       wrappers=st.lists(st.one_of(st.text(max_size=6), st.none()), max_size=12), data=st.data())
def test_a_hostile_object_is_found_at_any_depth(tmp_path_factory, parts, noise, which, wrappers, data):
    node, code = _HOSTILE_NODES[which]
    buried: object = copy.deepcopy(node)
    for key in wrappers:  # None wraps in a list, a string wraps in a dict under that key
        buried = [noise, buried] if key is None else {key: buried, "x" + key: noise}
    cfg = copy.deepcopy(parts.config)
    cfg["config"]["layers"][1]["config"][data.draw(st.text(min_size=1, max_size=6))] = buried
    path = fx.write_keras(tmp_path_factory.mktemp("deep") / "m.keras", parts, cfg)
    report = scan(path)
    assert code in report.codes and not report.ok, str(report)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=_json)
def test_arbitrary_json_configs_never_raise(tmp_path_factory, parts, config):
    path = fx.write_keras(tmp_path_factory.mktemp("json") / "m.keras", parts, json.dumps(config).encode())
    report = scan(path)
    assert "artifact.internal_error" not in report.codes, str(report)


@pytest.mark.parametrize("name, bad", [("../../etc/cron.d/x", True), ("/abs", True), ("a\\..\\b", True),
                                       ("C:\\x", True), ("dense_1", False), ("a..b", False)])
def test_layer_names_that_are_paths(tmp_path, parts, name, bad):
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": name, "units": 2}}
    report = scan(fx.write_keras(tmp_path / "m.keras", parts, _with(parts, layer)))
    assert ("artifact.path_in_name" in report.codes) is bad
    assert report.ok is not bad
