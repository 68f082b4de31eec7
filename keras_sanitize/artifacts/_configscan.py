"""Walk a Keras model config (``config.json`` or a legacy ``model_config``) without importing it.

Every JSON object carrying a ``class_name`` is checked wherever it sits: layers of
nested models, wrapped layers, initializers, regularizers, constraints,
activations, losses and metrics in ``compile_config``, the function of a
``Lambda``. Nothing in the config is imported, resolved or executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from keras_sanitize.findings import Action, Severity, echo

from ._allowlists import (
    _NON_MODELLING_SHORT,
    NON_MODELLING_APIS,
    NON_MODELLING_PREFIXES,
    OWN_LAYERS,
    OWN_LAYERS_MODULE,
    PYTHON_BUILTINS,
    UNSAFE_LAYERS,
    installed,
    keras_functions,
)
from ._common import DEFAULT_ALLOWED_MODULES, Collector, ScanLimits, dotted, module_allowed
from ._formats import looks_like_marshal, looks_like_pickle

__all__ = ["NON_MODELLING_APIS", "UNSAFE_LAYERS", "scan_config", "scan_json_blob", "within_budget"]

LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
_FILE_KEYS = frozenset({"vocabulary", "merges", "proto", "vocabulary_file", "vocab_file", "idf_weights"})
_SKIP_STR_KEYS = frozenset({"name", "class_name", "registered_name", "code"})
_PATHLIKE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|file:|/|~[/\\]|\\\\|[A-Za-z]:[\\/])")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE_FIRST = frozenset("4Ygc\x80")
# "package>Name" as register_keras_serializable writes it; packages may hold '-' and '.'.
_REGISTERED = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}(?:>[A-Za-z_][A-Za-z0-9_.]{0,127})?$")


def _path_like_name(name: str) -> bool:
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def within_budget(raw: bytes, source: str, limits: ScanLimits, col: Collector) -> bool:
    """Refuse, before parsing, a config whose size or value count exceeds the limits.

    ``json.loads`` builds every value before any limit can apply, and a Python value
    costs 50-300 bytes (an empty list in a 3-byte ``[],``), so the count comes first:
    each value or key but the first follows a ``,`` or ``:`` or opens with ``[``/``{``.
    Counting those bytes is a C-speed upper bound (separators inside strings count too).
    """
    if len(raw) > limits.max_config_bytes:
        col.add("artifact.config_too_large",
                f"{source} is {len(raw)} bytes; limit is {limits.max_config_bytes} (max_config_bytes). "
                "Raise ScanLimits.max_config_bytes if a genuine model is that large",
                Severity.HIGH, fatal=True, bytes=len(raw), limit=limits.max_config_bytes)
        return False
    values = _values(raw)
    if values > limits.max_json_nodes:
        col.add("artifact.config_too_large",
                f"{source} holds up to {values} JSON values and keys (counted from its separators before "
                f"parsing); limit is {limits.max_json_nodes} (max_json_nodes). Parsing it would build "
                "that many Python objects. Raise ScanLimits.max_json_nodes if a genuine model is that large",
                Severity.HIGH, fatal=True, values=values, limit=limits.max_json_nodes)
        return False
    return True


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
        self.user_allowed = tuple(a for a in allowed if a not in DEFAULT_ALLOWED_MODULES)
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
        # Depth-first over iterators: memory grows with depth, not with the number of values.
        where = self.classify(root, "", "") if _has_class(root) else ""
        stack: list[tuple[Iterator[tuple[Any, Any]], str, str]] = [(_items(root), "", where)]
        nodes = 1
        limit, max_depth = self.limits.max_json_nodes, self.limits.max_json_depth
        while stack:
            it, path, where = stack[-1]
            for key, value in it:
                nodes += 1
                kind = type(value)
                if kind is dict or kind is list:
                    if not value:  # nothing inside to check; counted, never descended
                        continue
                    if nodes > limit or len(stack) >= max_depth:
                        self.col.add("artifact.config_too_large",
                                     f"{self.source} exceeds {limit} values or {max_depth} levels "
                                     "(max_json_nodes / max_json_depth); raise the limits if the model is "
                                     "genuinely that large", Severity.HIGH)
                        return
                    child = f"{path}/{key}"
                    classed = kind is dict and _has_class(value)
                    inner = self.classify(value, child, where) if classed else where
                    stack.append((_items(value), child, inner))
                    break
                if kind is str and key not in _SKIP_STR_KEYS and len(value) >= 2:
                    self.check_string(str(key), value, path, where)
            else:
                stack.pop()

    def check_string(self, key: str, value: str, path: str, where: str) -> None:
        # Cheap tests first keep a 300k-token vocabulary fast: base64 bytecode starts '4'/'Y',
        # pickles '\x80', 'c' or base64 'g' (protocol 0 has a newline early); paths '/', '~', '\\'
        # or hold a ':'.
        first = value[0]
        if (len(value) >= 8 and (first in _CODE_FIRST or "\n" in value[:16])
                and self.check_code(key, value, path, where)):
            return
        if (first in "/~\\" or ":" in value[:64]) and len(value) < 4096 and _PATHLIKE.match(value):
            self.add("artifact.file_reference", where, f"{path}/{key}",
                     f"field {key!r} names a file or URL {echo(value[:200])}; a model should not read "
                     "files or URLs when it loads. Check that this is intended", Severity.MEDIUM,
                     value=value[:200])

    def check_code(self, key: str, value: str, path: str, where: str) -> bool:
        if looks_like_marshal(value[:16].encode("latin-1", "replace")):
            if id(value) not in self.handled:
                self.add("artifact.python_bytecode", where, f"{path}/{key}",
                         f"field {key!r} holds marshalled Python bytecode ({echo(value[:24])}...), code "
                         "that runs when a loader rebuilds it; remove it", Severity.CRITICAL)
            return True
        if looks_like_pickle(value[:16].encode("latin-1", "replace")):
            self.add("artifact.pickle", where, f"{path}/{key}",
                     f"field {key!r} holds a base64 pickle ({echo(value[:24])}...); unpickling runs code. "
                     "Refuse the model or re-save it without the pickled object", Severity.CRITICAL)
            return True
        return False

    def classify(self, node: dict[str, Any], path: str, where: str) -> str:
        cls: str = node["class_name"]
        inner = node.get("config")
        inner_d: dict[str, Any] = inner if isinstance(inner, dict) else {}
        name = inner_d.get("name")
        label = f"{cls} {echo(name)}" if isinstance(name, str) else cls
        here = " > ".join([*where.split(" > "), label][-4:]) if where else label
        module = node.get("module")
        registered = node.get("registered_name")
        self.objects += 1
        for field, value in (("class_name", cls), ("registered_name", registered)):
            if value is not None and (not isinstance(value, str) or not (
                    _REGISTERED.match(value) if field == "registered_name" else dotted(value))):
                self.add("artifact.unsafe_name", here, path,
                         f"{field} {echo(value)} is not a plain name (Keras writes 'Name' or "
                         "'package>Name'); an expression here is an injection attempt. Refuse the model",
                         Severity.CRITICAL, field=field, value=echo(value))
                return here
        own = (module == OWN_LAYERS_MODULE and cls in OWN_LAYERS
               and registered in (None, f"keras_sanitize>{cls}"))

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
        elif own:
            return here
        elif module is not None:
            self.check_module(module, cls, here, path)
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
        for item in fn if isinstance(fn, list) else [fn]:
            self.handled.add(id(item))  # its bytecode is this finding, not another
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

    def check_module(self, module: Any, cls: str, here: str, path: str, *, function: bool = False) -> None:
        if function and isinstance(module, str) and module_allowed(module, DEFAULT_ALLOWED_MODULES):
            full = f"{module}.{cls}"
            if full in NON_MODELLING_APIS or full.startswith(NON_MODELLING_PREFIXES):
                self.non_modelling(full, here, path)
            elif full not in keras_functions() and not module_allowed(module, self.user_allowed):
                self.add("artifact.unsafe_function", here, path,
                         f"function reference {echo(full)} is not one of the Keras modelling functions "
                         "(activations, losses, metrics, ops) a model may name; functions are allowed by "
                         "exact name, not by namespace (keras_hub's get_file and load_json read files "
                         f"and download). Remove it, or if you trust it pass allow_modules=({module!r},)",
                         Severity.CRITICAL, function=full)
            elif not installed(module.split(".", 1)[0]):
                self.not_installed(module, full, here, path)
            return
        if isinstance(module, str) and module_allowed(module, self.allowed):
            if function and not installed(module.split(".", 1)[0]):
                self.not_installed(module, f"{module}.{cls}", here, path)
                return
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
        self.check_module(module, fn, here, path, function=True)

    def not_installed(self, module: str, full: str, here: str, path: str) -> None:
        self.add("artifact.module_not_installed", here, path,
                 f"references {echo(full)}, but package {module.split('.', 1)[0]!r} is not installed here; "
                 "a namespace that is not installed cannot be checked and may be installed later by "
                 "someone else. Install the package or refuse the model", Severity.HIGH, module=module)

    def non_modelling(self, full: str, here: str, path: str) -> None:
        self.add("artifact.non_modelling_api", here, path,
                 f"references {full}, which is not modelling code (settings, file I/O, downloads); "
                 "used to switch off safe_mode or touch files while loading (CVE-2025-9906, "
                 "CVE-2025-8747). Remove it from the model", Severity.CRITICAL, function=full)


def scan_config(raw: bytes, source: str, allowed: tuple[str, ...], limits: ScanLimits,
                col: Collector) -> dict[str, Any]:
    """Parse and walk one config; return a small summary (class name, layer count)."""
    if not within_budget(raw, source, limits, col):
        return {}
    config = parse_config(raw, source, col)
    if config is None:
        return {}
    walker = _Walker(source, allowed, limits, col)
    walker.walk(config)
    cls = config.get("class_name")
    return {"class_name": cls if isinstance(cls, str) else None, "objects": walker.objects}


def _has_class(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("class_name"), str)


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def scan_json_blob(raw: bytes, source: str, allowed: tuple[str, ...], limits: ScanLimits,
                   col: Collector) -> None:
    """Walk JSON found under an unexpected name (an HDF5 attribute or dataset) with the config rules.

    Invalid or non-config JSON is not a finding here: only what the rules find in it is.
    """
    if not within_budget(raw, source, limits, col):
        return
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return
    if isinstance(doc, (dict, list)):
        _Walker(source, allowed, limits, col).walk(doc)


def _values(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1
