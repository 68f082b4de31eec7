"""Issue 20 items 1-2 and issue 18 item 8: the scan under a budget, its blind spots, ks's own layers.

Every hostile file is built here, in a temporary directory (nothing large is committed).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.artifacts import DEFAULT_LIMITS, ScanLimits, scan
from keras_sanitize.artifacts import _allowlists as al
from keras_sanitize.artifacts import _configscan as cs
from keras_sanitize.artifacts import _fixtures as fx

ROOT = Path(__file__).resolve().parents[1]
CAP = DEFAULT_LIMITS.max_config_bytes
REFUSED = {"artifact.config_too_large", "artifact.config_invalid"}


@pytest.fixture(scope="module")
def parts() -> fx.Parts:
    return fx.clean_parts()


def _with_layer(parts: fx.Parts, layer: dict[str, Any]) -> dict[str, Any]:
    cfg = copy.deepcopy(parts.config)
    cfg["config"]["layers"].insert(1, layer)
    return cfg


# -- item 1: every hostile config is refused before it is parsed whole ---------------------------


@pytest.mark.parametrize("shape", sorted(set(fx.CONFIG_BOMBS) - {"long_string", "long_escapes"}))
def test_dense_config_at_the_size_cap_is_refused(tmp_path: Path, shape: str) -> None:
    path = fx.config_bomb(tmp_path, shape, CAP - 4096, deflate=shape == "empty_lists_whitespace")
    report = scan(path)
    assert not report.ok
    assert REFUSED & set(report.codes), report.codes
    finding = next(f for f in report.findings if f.code in REFUSED)
    assert "max_json_nodes" in finding.message or "max_config_bytes" in finding.message, finding.message


@pytest.mark.slow
@pytest.mark.parametrize(("shape", "deflate"), [("empty_lists", False), ("empty_lists_whitespace", True)])
def test_red_team_63mb_configs_are_refused(tmp_path: Path, shape: str, deflate: bool) -> None:
    path = fx.config_bomb(tmp_path, shape, 63_000_000, deflate=deflate)
    if deflate:  # under the zip-bomb ratio, so only the config budget can stop it
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
        assert info.file_size / info.compress_size < DEFAULT_LIMITS.zip_ratio
    report = scan(path)
    assert "artifact.config_too_large" in report.codes
    assert "artifact.zip_bomb" not in report.codes
    with pytest.raises(ks.ArtifactError) as exc:
        ks.load_model(path)
    assert "artifact.config_too_large" in exc.value.report.codes


def test_long_strings_within_the_cap_are_parsed_not_refused(tmp_path: Path) -> None:
    report = scan(fx.config_bomb(tmp_path, "long_string", CAP - 4096))
    assert "artifact.config_too_large" not in report.codes
    assert report.value["config"]["class_name"] == "Sequential"


def test_value_count_is_an_upper_bound_of_what_the_walker_sees(parts: fx.Parts) -> None:
    raw = json.dumps(parts.config).encode()
    limits = ScanLimits(max_json_nodes=_count_values(json.loads(raw)))
    walker = cs._Walker("t", ("keras",), limits, cs.Collector())
    walker.walk(json.loads(raw))
    assert walker.col.findings == []  # the walker's own count fits exactly
    bound = fx.values_of(raw)
    assert cs.within_budget(raw, "t", ScanLimits(max_json_nodes=bound), cs.Collector())
    assert not cs.within_budget(raw, "t", ScanLimits(max_json_nodes=bound - 1), cs.Collector())


def _count_values(doc: Any) -> int:
    stack, n = [doc], 0
    while stack:
        node = stack.pop()
        n += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return n


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=60,
)


@given(_JSON, st.sampled_from([(",", ":"), (", ", ": ")]))
@settings(max_examples=200, deadline=None)
def test_pre_parse_count_bounds_the_values_and_keys(doc: Any, separators: tuple[str, str]) -> None:
    raw = json.dumps(doc, separators=separators).encode()
    keys = 0
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keys += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    # Every key and every value but the root follows a ',' or ':' or opens its container.
    assert fx.values_of(raw) >= _count_values(doc) + keys


_MEASURE = textwrap.dedent(
    """
    import ctypes, gc, json, sys
    from keras_sanitize.artifacts import scan
    def trim():
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
    def rss(key):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))
    scan(sys.argv[1])  # warm-up: imports h5py and numpy
    out = {}
    for path in sys.argv[2:]:
        gc.collect()
        trim()  # hand freed heap back, so the baseline RSS is what is really in use
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS
        base = rss("VmRSS:")
        report = scan(path)
        out[path] = [(rss("VmHWM:") - base) / 1e6, list(report.codes)]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux /proc/self/clear_refs to reset the peak RSS")
def test_hostile_configs_cost_under_100_mb(tmp_path: Path, parts: fx.Parts) -> None:
    clean = fx.write_keras(tmp_path / "clean.keras", parts)
    paths = [fx.config_bomb(tmp_path, shape, CAP - 4096) for shape in sorted(fx.CONFIG_BOMBS)]
    # The largest configs the scan does parse: just under max_json_nodes, in each dense shape.
    limit = int(DEFAULT_LIMITS.max_json_nodes * 0.99)
    paths += [fx.config_bomb(tmp_path, shape, CAP - 4096, values=limit)
              for shape in ("empty_lists", "empty_objects", "keyed_empty_lists", "many_keys", "zeros")]
    paths.append(fx.config_bomb(tmp_path, "empty_lists_whitespace", CAP - 4096, deflate=True))
    paths.append(fx.config_bomb(tmp_path, "empty_lists_whitespace", 63_000_000, deflate=True))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(clean), *map(str, paths)], env=env,
                          capture_output=True, text=True, timeout=240, check=True)
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    for path, (mb, codes) in measured.items():
        assert mb < 100, f"{Path(path).name}: +{mb:.0f} MB ({codes})"
    parsed = [codes for path, (_mb, codes) in measured.items() if "config_too_large" not in str(codes)]
    assert len(parsed) >= 5 + 2  # the near-limit configs and the long strings were parsed and walked


# -- item 2: the three blind spots ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["registered_name", "class_name"])
def test_expression_in_a_name_is_refused(tmp_path: Path, parts: fx.Parts, field: str) -> None:
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": "d2", "units": 2}}
    layer[field] = "__import__('os').system('touch /tmp/ks_pwned')"
    report = scan(fx.write_keras(tmp_path / "expr.keras", parts, _with_layer(parts, layer)))
    assert not report.ok
    assert "artifact.unsafe_name" in report.codes


def _activation(parts: fx.Parts, module: str, name: str) -> dict[str, Any]:
    fn = {"module": module, "class_name": "function", "config": name, "registered_name": "function"}
    layer = {"module": "keras.layers", "class_name": "Activation", "registered_name": None,
             "config": {"name": "act", "activation": fn}}
    return _with_layer(parts, layer)


@pytest.mark.parametrize("name", ["get_file", "load_json"])
def test_keras_hub_file_functions_are_refused(tmp_path: Path, parts: fx.Parts, name: str) -> None:
    cfg = _activation(parts, "keras_hub.src.utils.preset_utils", name)
    report = scan(fx.write_keras(tmp_path / "hub.keras", parts, cfg))
    assert not report.ok
    assert "artifact.unsafe_function" in report.codes, report.codes


@pytest.mark.parametrize(("module", "name", "ok"), [
    ("keras.activations", "relu", True),
    ("keras.src.activations.activations", "gelu", True),
    ("keras.ops", "sin", True),
    ("keras.activations", "no_such_function", False),
    ("keras.src.utils.file_utils", "get_file", False),
    ("keras.layers", "Dense", False),
])
def test_keras_functions_are_allowed_by_exact_name(tmp_path: Path, parts: fx.Parts, module: str,
                                                   name: str, ok: bool) -> None:
    report = scan(fx.write_keras(tmp_path / "fn.keras", parts, _activation(parts, module, name)))
    assert report.ok is ok, str(report)


def test_functions_from_packages_not_installed_are_refused(tmp_path: Path, parts: fx.Parts) -> None:
    assert importlib.util.find_spec("ks_not_installed_pkg") is None
    cfg = _activation(parts, "ks_not_installed_pkg.acts", "swish")
    path = fx.write_keras(tmp_path / "missing.keras", parts, cfg)
    report = scan(path, allow_modules=["ks_not_installed_pkg"])
    assert "artifact.module_not_installed" in report.codes
    installed = _activation(parts, "numpy", "tanh")  # the caller's namespace, installed: trusted
    assert scan(fx.write_keras(tmp_path / "np.keras", parts, installed), allow_modules=["numpy"]).ok


def test_generated_function_list_matches_installed_keras() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_keras_functions.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert set(gen.names()) | al.KERAS_HUB_FUNCTIONS == set(al.keras_functions())


def _flip_attr(src: Path, dst: Path) -> Path:
    """The issue's file: the legacy Lambda model with one bit flipped in 'model_config'."""
    with h5py.File(src, "r") as f_in, h5py.File(dst, "w") as f_out:
        for key, value in f_in.attrs.items():
            f_out.attrs["model^config" if key == "model_config" else key] = value
        f_in.copy("model_weights", f_out)
    return dst


def test_legacy_h5_config_under_a_flipped_name_is_still_walked(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _flip_attr(fx.legacy_h5_lambda(tmp_path, marker), tmp_path / "flipped.h5")
    with h5py.File(path, "r") as f:
        assert "model_config" not in f.attrs and "model^config" in f.attrs
    report = scan(path)
    assert not report.ok
    assert "artifact.lambda_layer" in report.codes, report.codes
    assert not marker.exists()


def test_json_and_bytecode_in_any_attribute_or_dataset(tmp_path: Path, parts: fx.Parts) -> None:
    bad = {"class_name": "Dense", "module": "subprocess", "config": {"name": "x"}}

    def edit(f: Any) -> None:
        f["layers/dense"].attrs["notes"] = json.dumps(bad)
        evil = json.dumps({"class_name": "Evil", "module": "os"}).encode()
        f.create_dataset("extra", data=np.array([evil]))
        as_bytes = json.dumps({"class_name": "Popen", "module": "subprocess"}).encode()
        f.create_dataset("blob", data=np.frombuffer(as_bytes, np.uint8))
        f.create_dataset("int8_weights", data=np.arange(-50, 50, dtype=np.int8))  # read as nothing

    weights = fx._weights_with(edit)
    report = scan(fx.write_keras(tmp_path / "attrs.keras", parts, weights=weights))
    assert not report.ok
    hits = [f for f in report.findings if f.code == "artifact.unsafe_module"]
    assert len(hits) == 3, report.codes
    assert set(report.codes) == {"artifact.unsafe_module"}

    import marshal

    code = marshal.dumps((lambda: None).__code__)
    report = scan(fx.write_keras(tmp_path / "code.keras", parts, weights=fx._weights_with(
        lambda f: f.attrs.__setitem__("blob", np.void(code)))))
    assert "artifact.python_bytecode" in report.codes or "artifact.hdf5_object_dtype" in report.codes


def test_clean_weights_with_ordinary_attributes_stay_clean(tmp_path: Path, parts: fx.Parts) -> None:
    def edit(f: Any) -> None:
        f.attrs["layer_names"] = [b"dense", b"[odd name]"]
        f["layers/dense"].attrs["note"] = "[1, 2, 3]"

    report = scan(fx.write_keras(tmp_path / "ok.keras", parts, weights=fx._weights_with(edit)))
    assert report.ok, str(report)


# -- issue 18 item 8: ks.load_model accepts ks.layers by exact registered name ----------------------


_README_MODEL = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import keras_sanitize as ks
    path, x_path = sys.argv[1], sys.argv[2]
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        ks.layers.TensorGuard(min_value=0.0, max_value=1.0),
        ks.layers.SqueezeBits(bits=5),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.save(path)
    x = np.load(x_path)
    loaded = ks.load_model(path)  # default allow_modules: no keras_sanitize namespace needed
    assert [type(l).__name__ for l in loaded.layers][:2] == ["TensorGuard", "SqueezeBits"]
    got = keras.ops.convert_to_numpy(loaded(x))
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)
    print("ok", keras.config.backend())
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch", "tensorflow"])
def test_readme_model_round_trips_through_ks_load_model(tmp_path: Path, backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not importable here")
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    x[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _README_MODEL, str(tmp_path / "m.keras"),
                           str(tmp_path / "x.npy")], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"ok {backend}" in proc.stdout


def test_own_layers_allowed_only_by_exact_name(tmp_path: Path, parts: fx.Parts) -> None:
    layer = {"module": al.OWN_LAYERS_MODULE, "class_name": "SqueezeBits",
             "registered_name": "keras_sanitize>SqueezeBits", "config": {"name": "sq", "bits": 5}}
    assert scan(fx.write_keras(tmp_path / "own.keras", parts, _with_layer(parts, layer))).ok
    for edit in ({"class_name": "Pipeline"}, {"module": "keras_sanitize.cli"},
                 {"registered_name": "keras_sanitize>Pipeline"}):
        bad = dict(layer, **edit)
        report = scan(fx.write_keras(tmp_path / "own_bad.keras", parts, _with_layer(parts, bad)))
        assert not report.ok, (edit, report.codes)


def test_own_layer_list_matches_the_registered_layers() -> None:
    import keras

    from keras_sanitize.integrations import layers

    registered = {name.split(">", 1)[1] for name, cls in keras.saving.get_custom_objects().items()
                  if name.startswith("keras_sanitize>") and cls.__module__ == layers.__name__}
    assert registered == set(al.OWN_LAYERS)
    assert layers.__name__ == al.OWN_LAYERS_MODULE
