"""Configuration, one import away: the stage registry, policy files and presets.

The pieces live in the core modules, imported in one direction
(``errors -> findings -> stage -> registry -> policy -> pipeline -> config``):

* :mod:`keras_sanitize.registry`: ``register_stage``, ``serialize_stage``,
  ``deserialize_stage``, the Keras bridge and the modality registry;
* :mod:`keras_sanitize.policy`: reading TOML/JSON policy files;
* :mod:`keras_sanitize.pipeline`: ``pipeline_from_preset``.

This module gathers them under their historical import path
(``from keras_sanitize.config import register_stage`` keeps working).
"""

from __future__ import annotations

from keras_sanitize.pipeline import pipeline_from_preset
from keras_sanitize.policy import MAX_POLICY_BYTES, load_policy_file
from keras_sanitize.registry import (
    MODALITIES,
    deserialize_stage,
    modality_module,
    register_stage,
    register_with_keras,
    registered_stages,
    serialize_stage,
)

__all__ = [
    "MAX_POLICY_BYTES",
    "MODALITIES",
    "deserialize_stage",
    "load_policy_file",
    "modality_module",
    "pipeline_from_preset",
    "register_stage",
    "register_with_keras",
    "registered_stages",
    "serialize_stage",
]
