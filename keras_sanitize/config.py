"""Stage registry, serialization and policy files.

Stages serialize in Keras's own format (``module``, ``class_name``, ``config``,
``registered_name`` = ``"keras_sanitize>ClassName"``) so that a pipeline's config
can live inside a Keras model config. Deserialization only ever instantiates
classes that were *registered* (``@register_stage``): a config can never make
the library import an arbitrary module, which is the mistake behind several
Keras ``safe_mode`` bypasses.

Keras itself is imported only by :func:`register_with_keras`, so text, image and
audio validation work without a Keras backend.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from keras_sanitize.errors import ConfigError

__all__ = [
    "deserialize_stage",
    "load_policy_file",
    "pipeline_from_preset",
    "register_stage",
    "register_with_keras",
    "registered_stages",
    "serialize_stage",
]

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
_LOCK = threading.Lock()
_BUILTIN_MODULES = (
    "keras_sanitize.pipeline",
    "keras_sanitize.tensor",
    "keras_sanitize.text",
    "keras_sanitize.image",
    "keras_sanitize.audio",
)
MAX_POLICY_BYTES = 1 << 20


def register_stage(package: str = "keras_sanitize", name: str | None = None) -> Callable[[T], T]:
    """Class decorator registering a stage for (de)serialization.

    Also registers it with Keras's serialization registry when Keras is already
    imported (and later, through :func:`register_with_keras`).

    Example:
        >>> import keras_sanitize as ks
        >>> @ks.register_stage("my_org")
        ... class Upper(ks.Filter):
        ...     def process(self, value, ctx):
        ...         return value.upper()
        >>> ks.serialize_stage(Upper())["registered_name"]
        'my_org>Upper'
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ConfigError(f"register_stage: package must be a non-empty name. Received: {package!r}")

    def decorator(cls: T) -> T:
        key = f"{package}>{name or cls.__name__}"
        with _LOCK:
            old = _REGISTRY.get(key)
            # Two different classes under one name would silently replace each other
            # when configs load; a re-import of the same class is fine.
            if old is not None and _qualname(old) != _qualname(cls):
                raise ConfigError(
                    f"register_stage: {key!r} is already registered by {_qualname(old)}; "
                    f"give {_qualname(cls)} another name (register_stage(name=...))"
                )
            _REGISTRY[key] = cls
        cls._registered_name = key  # type: ignore[attr-defined]
        if "keras" in sys.modules and _KERAS_REGISTERED.is_set():
            _register_one_with_keras(key, cls)
        return cls

    return decorator


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_stages() -> dict[str, type]:
    """Return a copy of the registry: registered name -> class."""
    _import_builtins()
    with _LOCK:
        return dict(_REGISTRY)


def _import_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError:  # a modality whose optional dependency is missing
            continue


def serialize_stage(stage: Any) -> dict[str, Any]:
    """Serialize a stage in Keras's format.

    Example:
        >>> import keras_sanitize as ks
        >>> cfg = ks.serialize_stage(ks.tensor.validators.Finite())
        >>> cfg["class_name"], cfg["registered_name"]
        ('Finite', 'keras_sanitize>Finite')
    """
    cls = type(stage)
    key = getattr(cls, "_registered_name", None)
    if key is None or _REGISTRY.get(key) is not cls:
        raise ConfigError(
            f"{cls.__name__} is not registered: decorate it with @keras_sanitize.register_stage() "
            f"so that it can be saved and loaded"
        )
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": stage.get_config(),
        "registered_name": key,
    }


def _lookup(config: Mapping[str, Any]) -> type:
    key = config.get("registered_name")
    class_name = config.get("class_name")
    for attempt in range(2):
        with _LOCK:
            if isinstance(key, str) and key in _REGISTRY:
                return _REGISTRY[key]
            if isinstance(class_name, str):
                hits = [c for k, c in _REGISTRY.items() if k.split(">", 1)[1] == class_name]
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    raise ConfigError(
                        f"class_name {class_name!r} is ambiguous; give registered_name "
                        f"(one of {[k for k in _REGISTRY if k.endswith('>' + class_name)]})"
                    )
        if attempt == 0:
            _import_builtins()
    raise ConfigError(
        f"unknown stage {key or class_name!r}: not a registered keras_sanitize stage. "
        f"Register custom stages with @keras_sanitize.register_stage() before loading."
    )


def deserialize_stage(config: Mapping[str, Any] | str) -> Any:
    """Build a stage from :func:`serialize_stage` output (or a bare class name).

    Unknown names raise :class:`~keras_sanitize.ConfigError`; nothing outside
    the registry is ever imported.
    """
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
        if ">" in config["class_name"]:
            config["registered_name"] = config["class_name"]
    if not isinstance(config, Mapping):
        raise ConfigError(f"a stage config must be a mapping. Received: {config!r}")
    cls = _lookup(config)
    inner = config.get("config", {})
    if inner is None:
        inner = {}
    if not isinstance(inner, Mapping):
        raise ConfigError(f"{cls.__name__}: 'config' must be a mapping. Received: {inner!r}")
    result = cls.from_config(dict(inner))  # type: ignore[attr-defined]
    return result


# -- policy files -----------------------------------------------------------


def load_policy_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON policy file into a pipeline config mapping."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_POLICY_BYTES:
            raise ConfigError(f"policy file {p} is larger than {MAX_POLICY_BYTES} bytes")
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {p}: {exc}") from None
    try:
        if p.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        elif p.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            raise ConfigError(f"policy file must end in .toml or .json. Received: {p.name!r}")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot parse policy file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"policy file {p} must hold a table/object at top level")
    # A Keras-format pipeline config nests the real config under "config".
    if data.get("class_name") == "Pipeline" and isinstance(data.get("config"), dict):
        data = data["config"]
    return data


_PRESETS = {
    "tensor": "keras_sanitize.tensor",
    "text": "keras_sanitize.text",
    "image": "keras_sanitize.image",
    "audio": "keras_sanitize.audio",
}


def pipeline_from_preset(config: Mapping[str, Any]) -> Any:
    """Build ``<modality>.default(**options)`` from ``{"preset": "text.default", ...}``.

    Optional keys: ``options`` (keyword arguments of ``default``), ``mode``,
    ``fail_fast``, ``policy`` (wrapped around the preset; it wins over the
    stages' own policies), ``name``.
    """
    from keras_sanitize.pipeline import Pipeline

    preset = config.get("preset")
    allowed = {"preset", "options", "mode", "fail_fast", "policy", "name"}
    extra = set(config) - allowed
    if extra:
        raise ConfigError(f"unknown keys in preset policy: {sorted(extra)}; allowed: {sorted(allowed)}")
    modality, _, func = str(preset).partition(".")
    if modality not in _PRESETS or func != "default":
        raise ConfigError(
            f"preset must be one of {[m + '.default' for m in _PRESETS]}. Received: preset={preset!r}"
        )
    options = config.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"preset options must be a table. Received: {options!r}")
    try:
        module = importlib.import_module(_PRESETS[modality])
    except ImportError as exc:
        raise ConfigError(f"preset {preset!r} is not available: {exc}") from None
    try:
        base = module.default(**dict(options))
    except TypeError as exc:
        raise ConfigError(f"{preset}: bad options {dict(options)!r}: {exc}") from None
    return Pipeline(
        [base],
        modality=modality,
        mode=config.get("mode", "enforce"),
        fail_fast=config.get("fail_fast", True),
        policy=config.get("policy"),
        name=config.get("name"),
    )


# -- Keras registry ------------------------------------------------------------

_KERAS_REGISTERED = threading.Event()


def _register_one_with_keras(key: str, cls: type) -> None:
    import keras

    keras.saving.get_custom_objects()[key] = cls


def register_with_keras() -> None:
    """Register every keras_sanitize stage with Keras's serialization registry.

    Imports Keras (and so its backend); called by the integrations that need
    Keras anyway. Afterwards ``keras.saving.deserialize_keras_object`` accepts
    stage configs.
    """
    _import_builtins()
    with _LOCK:
        items = list(_REGISTRY.items())
    for key, cls in items:
        _register_one_with_keras(key, cls)
    _KERAS_REGISTERED.set()
