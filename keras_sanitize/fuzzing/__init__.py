"""Hostile-input generation: model pre-analysis (``probe``) and Hypothesis strategies.

``probe(target, modality, pipeline=None, budget=1000, seed=0, families=None, canary=None)``
runs seeded attack families against a Keras model, a wrapped model or a batch
callable, with and without a sanitizing pipeline, and returns a
:class:`ProbeReport` (JSON, summary, ranking, HTML). The Hypothesis strategies
live in :mod:`keras_sanitize.fuzzing.strategies` (needs ``hypothesis``).

Example:
    >>> import numpy as np, keras_sanitize as ks
    >>> model = lambda x: x.sum(axis=1, keepdims=True)
    >>> report = ks.fuzzing.probe(model, "tensor", budget=5, families=["nan_inf"])
    >>> report.family("nan_inf").crashes
    5
"""

from keras_sanitize.fuzzing._families import Case, Family
from keras_sanitize.fuzzing._probe import (
    ARRAY_FAMILIES,
    DEFAULT_SHAPES,
    ProbeLimits,
    attacks,
    families,
    probe,
)
from keras_sanitize.fuzzing._report import FamilyResult, ProbeReport

__all__ = [
    "ARRAY_FAMILIES",
    "DEFAULT_SHAPES",
    "Case",
    "Family",
    "FamilyResult",
    "ProbeLimits",
    "ProbeReport",
    "attacks",
    "families",
    "probe",
]
