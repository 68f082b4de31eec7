"""Text verifiers: detectors that score the text.

* :class:`PromptInjectionRules`: weighted signatures (``keras_sanitize/data/injection_rules.toml``,
  28 languages) matched by one RE2 ``Set`` over the normalized text and over de-obfuscated
  and decoded views of it. Its :meth:`~PromptInjectionRules.score` works without a
  pipeline, so other detectors (a model) can combine with it.
* :class:`InjectionModel`, :class:`InjectionEnsemble`, :class:`ModelVerifier`: the shipped
  prompt-injection model, its ensemble with the rules, and the verifier for your own model.

The rules live in their own private module and the model verifiers in
:mod:`keras_sanitize.text.injection_model`; this module is the public place for all of them
(it imports both, neither imports it).
"""

from __future__ import annotations

from keras_sanitize.text._rules import (
    DEFAULT_THRESHOLD,
    DEFAULT_WARN_THRESHOLD,
    OBFUSCATION_WEIGHT,
    InjectionMatch,
    InjectionScan,
    PromptInjectionRules,
    Rule,
    load_rules,
)
from keras_sanitize.text.injection_model import InjectionEnsemble, InjectionModel, ModelVerifier

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WARN_THRESHOLD",
    "OBFUSCATION_WEIGHT",
    "InjectionEnsemble",
    "InjectionMatch",
    "InjectionModel",
    "InjectionScan",
    "ModelVerifier",
    "PromptInjectionRules",
    "Rule",
    "load_rules",
]
