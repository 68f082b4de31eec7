"""What a model config may name: non-modelling Keras APIs, unsafe layers, exact function names.

Allowlists are exact names wherever the library can enumerate them: Keras's modelling
functions (generated into ``data/keras_functions.txt``) and keras_sanitize's own layers.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
from importlib import resources
from types import MappingProxyType

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
#: keras_sanitize's own layers (``ks.layers``): allowed by exact module, class and registered name.
OWN_LAYERS_MODULE = "keras_sanitize.integrations.layers"
OWN_LAYERS = frozenset({"TensorGuard", "SqueezeBits", "MedianSmoothing", "LowPass", "PeakNormalize",
                        "Standardize", "ImageNormalize", "RemoveDC"})
#: keras_hub functions a config may name by module (besides the generated Keras list).
KERAS_HUB_FUNCTIONS = frozenset({"keras_hub.src.utils.keras_utils.gelu_approximate"})

@functools.lru_cache(maxsize=1)
def keras_functions() -> frozenset[str]:
    """Exact ``module.name`` references into Keras that a config may make (generated data file)."""
    text = resources.files("keras_sanitize").joinpath("data", "keras_functions.txt").read_text("utf-8")
    names = (line.strip() for line in text.splitlines())
    return frozenset(n for n in names if n and not n.startswith("#")) | KERAS_HUB_FUNCTIONS


@functools.lru_cache(maxsize=256)
def installed(top: str) -> bool:
    """Whether the top-level package ``top`` can be imported here (found, never imported)."""
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False
