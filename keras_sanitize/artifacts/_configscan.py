"""Walk a Keras model config (``config.json`` or a legacy ``model_config``) without importing it.

Every JSON object carrying a ``class_name`` is checked wherever it sits: layers of
nested models, wrapped layers, initializers, regularizers, constraints,
activations, losses and metrics in ``compile_config``, the function of a
``Lambda``. Nothing in the config is imported, resolved or executed.
"""

from __future__ import annotations

import builtins
import json
import re
from types import MappingProxyType
from typing import Any

from keras_sanitize.findings import Action, Severity, echo

from ._common import Collector, ScanLimits, module_allowed
from ._formats import looks_like_pickle

#: Keras functions that are not modelling code (Keras's own NON_MODELING_APIS, 3.15).
NON_MODELLING_APIS = frozenset({
    "keras.backend.clear_session", "keras.config.enable_unsafe_deserialization",
    "keras.models.load_model", "keras.models.model_from_json", "keras.models.save_model",
    "keras.preprocessing.image_dataset_from_directory", "keras.preprocessing.image.load_img",
    "keras.preprocessing.image.save_img", "keras.preprocessing.text_dataset_from_directory",
    "keras.saving.deserialize_keras_object", "keras.saving.load_model", "keras.saving.load_weights",
    "keras.saving.register_keras_serializable", "keras.saving.save_model", "keras.saving.save_weights",
    "keras.saving.serialize_keras_object", "keras.utils.audio_dataset_from_directory",
    "keras.utils.clear_session", "keras.utils.deserialize_keras_object", "keras.utils.get_file",
    "keras.utils.image_dataset_from_directory", "keras.utils.load_img",
    "keras.utils.register_keras_serializable", "keras.utils.save_img",
    "keras.utils.serialize_keras_object", "keras.utils.text_dataset_from_directory",
})
#: Whole namespaces whose functions have no place in a model: settings, I/O, downloads.
NON_MODELLING_PREFIXES = (
    "keras.config.", "keras.saving.", "keras.models.", "keras.utils.", "keras.backend.",
    "keras.preprocessing.", "keras.export.", "keras.callbacks.", "keras.datasets.",
    "keras.distribution.", "keras.visualization.", "keras.src.saving.", "keras.src.utils.",
    "keras.src.legacy.", "keras.src.export.", "keras.src.backend.config.",
)
_NON_MODELLING_SHORT = frozenset(api.rsplit(".", 1)[1] for api in NON_MODELLING_APIS)
#: Python built-ins a ``builtins`` function reference must never name (exec, eval, open, ...).
PYTHON_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_") or n == "__import__")
#: Layers that run code or load files outside the model by design.
UNSAFE_LAYERS = MappingProxyType({
    "TFSMLayer": "loads an external TensorFlow SavedModel whose graph can run arbitrary ops",
    "TorchModuleWrapper": "holds a torch.save() pickle that runs code when unpickled (CVE-2025-49655)",
})
LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
_FILE_KEYS = frozenset({"vocabulary", "merges", "proto", "vocabulary_file", "vocab_file", "idf_weights"})
_SKIP_STR_KEYS = frozenset({"name", "class_name", "registered_name", "code"})
_PATHLIKE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|file:|/|~[/\\]|\\\\|[A-Za-z]:[\\/])")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path_like_name(name: str) -> bool:
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def parse_config(raw: bytes, source: str, col: Collector) -> Any:
    """Parse JSON as Keras does (``json.loads``), reporting duplicate keys; ``None`` if invalid."""
    duplicates: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) < len(pairs):
            seen: set[str] = set()
            duplicates.extend(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return out

    try:
        config = json.loads(raw, object_pairs_hook=hook)
    except RecursionError:
        col.add("artifact.config_invalid", f"{source} nests too deeply to parse; a Keras config is a "
                "few dozen levels deep. Re-save the model", Severity.HIGH, fatal=True)
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        col.add("artifact.config_invalid", f"{source} is not valid JSON ({echo(str(exc))}); re-save "
                "the model with keras", Severity.HIGH, fatal=True)
        return None
    if duplicates:
        col.add("artifact.config_duplicate_key",
                f"{source} repeats keys {echo(', '.join(sorted(set(duplicates))))}; JSON parsers disagree "
                "on which "
                "value wins, a known way to show a scanner one model and a loader another",
                Severity.HIGH, keys=sorted(set(duplicates))[:20])
    if not isinstance(config, dict):
        col.add("artifact.config_invalid", f"{source} holds {type(config).__name__}, not a JSON object; "
                "a Keras model config is an object with class_name and config", Severity.HIGH, fatal=True)
        return None
    return config


class _Walker:
    def __init__(self, source: str, allowed: tuple[str, ...], limits: ScanLimits, col: Collector) -> None:
        self.source = source
        self.allowed = allowed
        self.limits = limits
        self.col = col
        self.handled: set[int] = set()
        self.objects = 0

    def add(self, code: str, where: str, path: str, message: str, severity: Severity, **detail: Any) -> None:
        action = Action.WARN if severity in (Severity.INFO, Severity.LOW) or code in (
            "artifact.custom_object", "artifact.file_reference") or (
            code == "artifact.lambda_layer" and not detail.get("bytecode")) else Action.REJECT
        self.col.add(code, f"{where or 'the model'}: {message}", severity, action,
                     path=f"{self.source}:{path or '/'}", **detail)

    def walk(self, root: Any) -> None:
        stack: list[tuple[Any, str, str, int]] = [(root, "", "", 0)]
        nodes = 0
        while stack:
            node, path, where, depth = stack.pop()
            nodes += 1
            if nodes > self.limits.max_json_nodes or depth > self.limits.max_json_depth:
                self.col.add("artifact.config_too_large",
                             f"{self.source} exceeds {self.limits.max_json_nodes} values or "
                             f"{self.limits.max_json_depth} levels (max_json_nodes / max_json_depth); "
                             "raise the limits if the model is genuinely that large", Severity.HIGH)
                return
            if isinstance(node, dict):
                if isinstance(node.get("class_name"), str):
                    where = self.classify(node, path, where)
                for key, value in node.items():
                    if isinstance(value, (dict, list)):
                        stack.append((value, f"{path}/{key}", where, depth + 1))
                    elif isinstance(value, str) and key not in _SKIP_STR_KEYS:
                        self.check_string(key, value, path, where)
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    if isinstance(value, (dict, list)):
                        stack.append((value, f"{path}/{i}", where, depth + 1))
                    elif isinstance(value, str):
                        self.check_string(str(i), value, path, where)

    def check_string(self, key: str, value: str, path: str, where: str) -> None:
        if len(value) >= 8 and looks_like_pickle(value[:16].encode("latin-1", "replace")):
            self.add("artifact.pickle", where, f"{path}/{key}",
                     f"field {key!r} holds a base64 pickle ({echo(value[:24])}...); unpickling runs code. "
                     "Refuse the model or re-save it without the pickled object", Severity.CRITICAL)
        elif len(value) < 4096 and _PATHLIKE.match(value):
            self.add("artifact.file_reference", where, f"{path}/{key}",
                     f"field {key!r} names a file or URL {echo(value)}; a model should not read "
                     "files or URLs when it loads. Check that this is intended", Severity.MEDIUM,
                     value=value[:200])

    def classify(self, node: dict[str, Any], path: str, where: str) -> str:
        cls: str = node["class_name"]
        inner = node.get("config")
        inner_d: dict[str, Any] = inner if isinstance(inner, dict) else {}
        name = inner_d.get("name")
        label = f"{cls} {echo(name)}" if isinstance(name, str) else cls
        here = " > ".join([*where.split(" > "), label][-4:]) if where else label
        module = node.get("module")
        self.objects += 1

        if isinstance(name, str) and _path_like_name(name):
            self.add("artifact.path_in_name", here, path,
                     f"object name {echo(name)} is an absolute path or climbs out with '..'; Keras builds "
                     "asset paths from layer names, so such a name writes outside its temporary "
                     "directory (CVE-2026-12479). Rename the layer", Severity.HIGH, name=name[:200])
        if cls == "__lambda__":
            if id(node) not in self.handled:
                self.add("artifact.python_bytecode", where, path,
                         "a serialized Python lambda (marshalled bytecode) that runs when called; "
                         "replace it with a registered function or layer", Severity.CRITICAL)
            return where
        if cls == "Lambda":
            self.check_lambda(inner_d, path, here)
        elif cls in UNSAFE_LAYERS:
            self.add("artifact.unsafe_layer", here, path,
                     f"layer class {cls} {UNSAFE_LAYERS[cls]}; such layers are refused. Rebuild the "
                     "model from native Keras layers", Severity.CRITICAL, class_name=cls)
        if cls in LOOKUP_LAYERS and isinstance(inner_d.get("vocabulary"), str):
            self.file_key(here, path, "vocabulary", inner_d["vocabulary"], lookup=True)
        else:
            for key in _FILE_KEYS.intersection(inner_d):
                if isinstance(inner_d[key], str) and inner_d[key]:
                    self.file_key(here, path, key, inner_d[key], lookup=False)

        if cls == "function":
            fn = inner if isinstance(inner, str) else None
            self.check_function(module, fn, here, path)
        elif module is not None:
            self.check_module(module, cls, here, path)
        registered = node.get("registered_name")
        if (isinstance(registered, str) and ">" in registered
                and not (isinstance(module, str) and module_allowed(module, self.allowed)
                         and module_allowed(registered.split(">", 1)[0], self.allowed))):
            self.add("artifact.custom_object", here, path,
                     f"resolves through the custom-object registry as {echo(registered)}: whatever this "
                     "process registered under that name is instantiated. Make sure it is your own class",
                     Severity.MEDIUM, registered_name=registered)
        return here

    def file_key(self, here: str, path: str, key: str, value: str, *, lookup: bool) -> None:
        kind = "lookup layer vocabulary" if lookup else f"field {key!r}"
        self.add("artifact.vocabulary_file", here, f"{path}/config/{key}",
                 f"{kind} is a file path {echo(value)}, read from the loading machine's disk "
                 "(e.g. /etc/passwd leaks into the model's vocabulary). Save the vocabulary inside "
                 "the model as a list or as an asset", Severity.HIGH, value=value[:200])

    def check_lambda(self, inner: dict[str, Any], path: str, here: str) -> None:
        fn = inner.get("function")
        fn_type = inner.get("function_type")
        bytecode = (
            (isinstance(fn, dict) and fn.get("class_name") == "__lambda__")
            or fn_type == "lambda"
            or (isinstance(fn, (list, str)) and fn_type != "function")
            or inner.get("output_shape_type") == "lambda"
            or inner.get("mask_type") == "lambda"
        )
        if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
            self.handled.add(id(fn))
        if bytecode:
            self.add("artifact.lambda_layer", here, path,
                     "Lambda layer carrying marshalled Python bytecode, which runs arbitrary code "
                     "(CVE-2024-3660). Re-implement it as a registered custom layer and pass its module "
                     "in allow_modules", Severity.CRITICAL, bytecode=True)
            return
        if fn_type == "function" and isinstance(fn, str):  # Keras 2: {"function": "system", "module": "os"}
            self.check_function(inner.get("module", "builtins"), fn, here, path)
        self.add("artifact.lambda_layer", here, path,
                 "Lambda layer calling a function reference; it loads only if the reference is a safe "
                 "Keras function (checked separately). Prefer a registered custom layer",
                 Severity.MEDIUM, bytecode=False)

    def check_module(self, module: Any, cls: str, here: str, path: str) -> None:
        if isinstance(module, str) and module_allowed(module, self.allowed):
            full = f"{module}.{cls}"
            if full in NON_MODELLING_APIS or full.startswith(NON_MODELLING_PREFIXES):
                self.non_modelling(full, here, path)
            return
        top = module.split(".", 1)[0] if isinstance(module, str) else "?"
        self.add("artifact.unsafe_module", here, path,
                 f"{echo(cls)} is taken from module {echo(module)}, outside the allowed packages "
                 f"{list(self.allowed)}; loading it would import that module (CVE-2025-1550). If it is "
                 f"your own code, pass allow_modules=({top!r},)", Severity.CRITICAL, module=module)

    def check_function(self, module: Any, fn: str | None, here: str, path: str) -> None:
        if fn is None or not _IDENT.match(fn):
            self.add("artifact.unsafe_function", here, path,
                     f"function reference {echo(fn)} is not a plain identifier; Keras function "
                     "references name one function", Severity.HIGH, function=fn)
            return
        if module in (None, "builtins"):
            if fn in PYTHON_BUILTINS:
                self.add("artifact.unsafe_function", here, path,
                         f"function reference to Python's built-in {fn!r} (builtins.{fn}); a model may "
                         "reference Keras functions only", Severity.CRITICAL, function=f"builtins.{fn}")
            elif fn in _NON_MODELLING_SHORT:
                self.non_modelling(f"builtins.{fn}", here, path)
            return
        self.check_module(module, fn, here, path)

    def non_modelling(self, full: str, here: str, path: str) -> None:
        self.add("artifact.non_modelling_api", here, path,
                 f"references {full}, which is not modelling code (settings, file I/O, downloads); "
                 "used to switch off safe_mode or touch files while loading (CVE-2025-9906, "
                 "CVE-2025-8747). Remove it from the model", Severity.CRITICAL, function=full)


def scan_config(raw: bytes, source: str, allowed: tuple[str, ...], limits: ScanLimits,
                col: Collector) -> dict[str, Any]:
    """Parse and walk one config; return a small summary (class name, layer count)."""
    if len(raw) > limits.max_config_bytes:
        col.add("artifact.config_too_large",
                f"{source} is {len(raw)} bytes; limit is {limits.max_config_bytes} (max_config_bytes)",
                Severity.HIGH, fatal=True)
        return {}
    config = parse_config(raw, source, col)
    if config is None:
        return {}
    walker = _Walker(source, allowed, limits, col)
    walker.walk(config)
    cls = config.get("class_name")
    return {"class_name": cls if isinstance(cls, str) else None, "objects": walker.objects}
