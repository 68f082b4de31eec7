"""keras_sanitize: input-sanitization middleware for Keras models.

Validators, filters, encoders and verifiers per modality (text, image, audio,
tensor) compose into pipelines that check raw inputs before a model sees them.

Example:
    >>> import keras_sanitize as ks
    >>> report = ks.validate("Hello, world")
    >>> report.ok
    True

Submodules that need heavy dependencies (Keras, Pillow, soundfile) are imported
lazily on first attribute access, so ``import keras_sanitize`` stays light and
works without a configured Keras backend.
"""

import contextlib as _contextlib
import importlib as _importlib
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from keras_sanitize._dispatch import validate
from keras_sanitize.config import deserialize_stage, register_stage, serialize_stage
from keras_sanitize.errors import (
    ArtifactError,
    ConfigError,
    InputRejected,
    OutputRejected,
    SanitizeError,
)
from keras_sanitize.findings import Action, Finding, Report, Severity
from keras_sanitize.pipeline import Pipeline
from keras_sanitize.registry import MODALITIES as _MODALITIES
from keras_sanitize.stage import Context, Encoder, Filter, Stage, Validator, Verifier
from keras_sanitize.upload import Upload

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    **{name: (module, None) for name, module in _MODALITIES.items()},
    "testing": ("keras_sanitize.testing", None),
    "layers": ("keras_sanitize.integrations.layers", None),
    "sanitize": ("keras_sanitize.integrations.decorator", "sanitize"),
    "wrap": ("keras_sanitize.integrations.wrap", "wrap"),
    "artifacts": ("keras_sanitize.artifacts", None),
    "load_model": ("keras_sanitize.artifacts", "load_model"),
    "audit": ("keras_sanitize.artifacts", "audit"),
    "sandbox": ("keras_sanitize.sandbox", None),
    "serve": ("keras_sanitize.serve", None),
    "privacy": ("keras_sanitize.privacy", None),
    "fuzzing": ("keras_sanitize.fuzzing", None),
    "scale": ("keras_sanitize.scale", None),
}

__all__ = [
    "Action",
    "ArtifactError",
    "ConfigError",
    "Context",
    "Encoder",
    "Filter",
    "Finding",
    "InputRejected",
    "OutputRejected",
    "Pipeline",
    "Report",
    "SanitizeError",
    "Severity",
    "Stage",
    "Upload",
    "Validator",
    "Verifier",
    "__version__",
    "artifacts",
    "audio",
    "audit",
    "deserialize_stage",
    "fuzzing",
    "image",
    "layers",
    "load_model",
    "privacy",
    "register_stage",
    "sandbox",
    "sanitize",
    "scale",
    "serialize_stage",
    "serve",
    "tensor",
    "testing",
    "text",
    "validate",
    "wrap",
]

if _TYPE_CHECKING:  # pragma: no cover
    from keras_sanitize import tensor as tensor
    from keras_sanitize import testing as testing


def __getattr__(name: str) -> _Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'keras_sanitize' has no attribute {name!r}")
    module = _importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names, not the helpers and submodules imported to build them
    return sorted(set(__all__) | {n for n in globals() if n.startswith("__") and n.endswith("__")})


# A saved .keras model holding ks.layers must load (safe_mode=True) right after
# `import keras_sanitize`; Keras only finds registered classes. Registering needs
# Keras, so do it only when Keras is already imported (the import stays light).
# (Otherwise touching `ks.layers`, `ks.wrap` or `ks.load_model` registers them.)
if "keras" in _sys.modules:
    with _contextlib.suppress(ImportError):  # a Keras without a usable backend
        _importlib.import_module("keras_sanitize.integrations.layers")
