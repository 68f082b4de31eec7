"""Pin the public surface of ``keras_sanitize`` (httpx's exported-members test)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import keras_sanitize as ks

PUBLIC = {
    "Action", "ArtifactError", "ConfigError", "Context", "Encoder", "Filter", "Finding",
    "InputRejected", "OutputRejected", "Pipeline", "Report", "SanitizeError", "Severity",
    "Stage", "Upload", "Validator", "Verifier", "__version__", "artifacts", "audio", "audit",
    "deserialize_stage", "image", "layers", "load_model", "register_stage", "sandbox", "sanitize",
    "serialize_stage", "serve", "tensor", "testing", "text", "validate", "wrap",
    "privacy", "fuzzing", "scale",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(ks.__all__) == PUBLIC


def test_every_public_name_resolves() -> None:
    for name in ks.__all__:
        assert getattr(ks, name) is not None, name


def test_private_modules_stay_private() -> None:
    assert not any(name.startswith("_") and name != "__version__" for name in ks.__all__)
    importlib.import_module("keras_sanitize.errors")


def test_import_is_light_and_needs_no_backend() -> None:
    """``import keras_sanitize`` must not import Keras, a backend, Pillow or soundfile."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = (
        "import sys, keras_sanitize as ks\n"
        "heavy = ('keras', 'jax', 'tensorflow', 'torch', 'PIL', 'soundfile')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert ks.validate('hello').ok\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_all_equals_the_public_namespace() -> None:
    """``dir(ks)`` shows the public names only; nothing public-looking is left out of ``__all__``."""
    shown = {n for n in dir(ks) if not n.startswith("_")}
    assert shown == set(ks.__all__) - {"__version__"}
    import types

    for name, value in vars(ks).items():
        if name.startswith("_") or name in ks.__all__:
            continue
        # what the package's own imports leave behind may only be its submodules
        assert isinstance(value, types.ModuleType) and value.__name__ == f"keras_sanitize.{name}", name


def test_modality_namespaces_show_their_public_names_only() -> None:
    import types

    for name in ("text", "image", "audio", "tensor"):
        module = getattr(ks, name)
        assert isinstance(module, types.ModuleType)
        assert dir(module) == sorted(module.__all__), name
        for public in module.__all__:
            assert hasattr(module, public), f"ks.{name}.{public}"
