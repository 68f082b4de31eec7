"""Leak tests for trained Keras models, on any backend (``ks.privacy``).

* :func:`membership_inference`: loss, confidence, entropy and LiRA attacks;
  ROC AUC, advantage, balanced accuracy, TPR at 0.1 % and 1 % FPR, bootstrap
  intervals, per-class and per-example scores, in a :class:`LeakReport`.
* :func:`canary_exposure`: the secret sharer's exposure of an inserted canary
  (:func:`make_canary`, :func:`insert_canaries`, :class:`SequenceScorer`).
* :class:`MembershipInferenceCallback` and :class:`ExposureCallback` write
  these numbers into Keras ``logs`` during training (they import Keras; the
  rest of this package does not).

Example:
    >>> import numpy as np
    >>> from keras_sanitize.privacy import attack_result
    >>> attack_result("loss", np.array([2.0, 3.0]), np.array([0.0, 1.0])).auc
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_sanitize.privacy._attacks import ATTACKS, PrivacyLimits, attack_result
from keras_sanitize.privacy._exposure import (
    Exposure,
    SequenceScorer,
    canary_exposure,
    insert_canaries,
    make_canary,
)
from keras_sanitize.privacy._mia import membership_inference
from keras_sanitize.privacy._report import AttackResult, LeakReport

__all__ = [
    "ATTACKS",
    "AttackResult",
    "Exposure",
    "ExposureCallback",
    "LeakReport",
    "MembershipInferenceCallback",
    "PrivacyLimits",
    "SequenceScorer",
    "attack_result",
    "canary_exposure",
    "insert_canaries",
    "make_canary",
    "membership_inference",
]

_LAZY = {"MembershipInferenceCallback", "ExposureCallback"}

if TYPE_CHECKING:  # pragma: no cover
    from keras_sanitize.privacy._callbacks import ExposureCallback, MembershipInferenceCallback


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module("keras_sanitize.privacy._callbacks"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_sanitize.privacy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
