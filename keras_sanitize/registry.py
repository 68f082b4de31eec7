"""The stage registry and stage serialization.

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
import sys
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, TypeVar

from keras_sanitize.errors import ConfigError

__all__ = [
    "MODALITIES",
    "deserialize_stage",
    "modality_module",
    "register_stage",
    "register_with_keras",
    "registered_stages",
    "serialize_stage",
]

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
_LOCK = threading.Lock()

#: The modality registry: every modality name -> the module holding its stages and
#: ``default()``. ``validate()``'s dispatch, presets, the CLI, the stage registry and
#: ``keras_sanitize``'s lazy attributes all read this one table.
MODALITIES: Mapping[str, str] = MappingProxyType(
    {
        "text": "keras_sanitize.text",
        "image": "keras_sanitize.image",
        "audio": "keras_sanitize.audio",
        "tensor": "keras_sanitize.tensor",
    }
)
_BUILTIN_MODULES = ("keras_sanitize.pipeline", *MODALITIES.values())


def modality_module(modality: str) -> ModuleType:
    """Import and return the module of ``modality`` (a key of :data:`MODALITIES`).

    Example:
        >>> modality_module("tensor").__name__
        'keras_sanitize.tensor'
    """
    if modality not in MODALITIES:
        raise ConfigError(f"modality must be one of {list(MODALITIES)}. Received: modality={modality!r}")
    return importlib.import_module(MODALITIES[modality])


# Packages that build on the core and the integrations (arrows run one way: core <- modalities <-
# integrations <- sandbox <- serve <- scale). Where an older layer offers a door into a newer one
# (``Pipeline.isolated``, ``ks.wrap(..., sandbox=True)``), it goes through this table at call time,
# never through an import, so the import graph keeps one direction.
EXTENSIONS: Mapping[str, str] = MappingProxyType({"sandbox": "keras_sanitize.sandbox"})


def extension(name: str) -> ModuleType:
    """Import and return the package ``name`` of :data:`EXTENSIONS` (a later layer than the caller).

    Example:
        >>> extension("sandbox").__name__
        'keras_sanitize.sandbox'
    """
    if name not in EXTENSIONS:
        raise ConfigError(f"extension must be one of {list(EXTENSIONS)}. Received: {name!r}")
    return importlib.import_module(EXTENSIONS[name])


def register_stage(
    package: str = "keras_sanitize", name: str | None = None, *, prefix: str = ""
) -> Callable[[T], T]:
    """Class decorator registering a stage for (de)serialization.

    The registered name is ``"<package>><name>"``; ``name`` defaults to the class name,
    with ``prefix`` in front unless it already starts with it (the image and audio stages
    register as ``ImageDecode``, ``AudioDecode``: ``Decode`` exists in both). Registered
    names never depend on the module a class lives in.

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
        short = name or (cls.__name__ if cls.__name__.startswith(prefix) else prefix + cls.__name__)
        key = f"{package}>{short}"
        with _LOCK:
            old = _REGISTRY.get(key)
            # Two different classes under one name would silently replace each other
            # when configs load; a re-import of the same class is fine.
            if old is not None and not _same_class(old, cls):
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


def _source_file(cls: type) -> str | None:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None)


def _same_class(old: type, new: type) -> bool:
    """The same class met again: the same module name, or one file imported under two module names
    (``tests._faults`` and ``_faults`` when a test runner and a test import it differently)."""
    if _qualname(old) == _qualname(new):
        return True
    file = _source_file(new)
    return old.__qualname__ == new.__qualname__ and file is not None and file == _source_file(old)


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
        "module": _public_module(cls),
        "class_name": cls.__name__,
        "config": stage.get_config(),
        "registered_name": key,
    }


def _public_module(cls: type) -> str:
    """The module path a config records: the class's module without private tail parts.

    ``keras_sanitize.text._rules`` -> ``keras_sanitize.text``, so moving a class between
    private modules does not change saved configs (loading reads ``registered_name``).
    """
    parts = cls.__module__.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    return ".".join(parts)


def _by_class_name(class_name: str) -> list[type]:
    """Registered classes a bare or modality-qualified class name can mean (under ``_LOCK``)."""
    modality, _, bare = class_name.rpartition(".")
    exact = [c for k, c in _REGISTRY.items() if k.split(">", 1)[1] == bare and not modality]
    if exact:  # the registered short name wins ("ToArray" is the tensor one)
        return exact
    hits = [c for c in _REGISTRY.values() if c.__name__ == bare]
    if modality:
        hits = [c for c in hits if getattr(c, "modality", None) == modality]
    return list(dict.fromkeys(hits))


def _lookup(config: Mapping[str, Any]) -> type:
    key = config.get("registered_name")
    class_name = config.get("class_name")
    for attempt in range(2):
        with _LOCK:
            if isinstance(key, str) and key in _REGISTRY:
                return _REGISTRY[key]
            if isinstance(class_name, str):
                hits = _by_class_name(class_name)
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    names = sorted(f"{getattr(c, 'modality', 'any')}.{c.__name__}" for c in hits)
                    raise ConfigError(
                        f"class_name {class_name!r} is ambiguous; qualify it with its modality "
                        f"(one of {names}) or give registered_name"
                    )
        if attempt == 0:
            _import_builtins()
    raise ConfigError(
        f"unknown stage {key or class_name!r}: not a registered keras_sanitize stage. "
        f"Register custom stages with @keras_sanitize.register_stage() before loading."
    )


def deserialize_stage(config: Mapping[str, Any] | str) -> Any:
    """Build a stage from :func:`serialize_stage` output (or a bare class name).

    A stage is found by ``registered_name``, else by ``class_name``: the class's
    own name (``"Resize"``), its registered short name (``"ImageResize"``), or a
    modality-qualified name when a bare one is ambiguous (``"image.ToArray"``).
    The ``module`` key is informational only. Unknown names raise
    :class:`~keras_sanitize.ConfigError`; nothing outside the registry is ever imported.
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
