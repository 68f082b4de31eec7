"""Trusted model loading: hash pinning, model-file scanning, safe loading, dependency audit.

Keras's ``safe_mode`` has been bypassed repeatedly (Lambda bytecode, arbitrary
modules in ``config.json``, non-modelling functions, legacy HDF5, HDF5 external
links). This module checks a model file *before* Keras sees it:

* :func:`sha256` / :func:`verify` pin an artifact to a known-good digest.
* :func:`scan` inspects ``.keras`` zips, HDF5 files and anything else by their
  bytes, using only :mod:`zipfile`, :mod:`json` and :mod:`h5py`; nothing from
  the file is imported or executed.
* :func:`load_model` verifies, scans a private copy, then calls
  ``keras.saving.load_model(..., safe_mode=True)``; any refusal raises
  :class:`~keras_sanitize.ArtifactError` carrying the scan report.
* :func:`audit` checks installed dependency versions against a shipped, dated
  table of advisories.

Example:
    >>> import keras_sanitize as ks
    >>> callable(ks.artifacts.scan) and callable(ks.load_model)
    True
"""

from __future__ import annotations

from ._audit import Advisory, advisories, audit
from ._common import DEFAULT_ALLOWED_MODULES, DEFAULT_LIMITS, ScanLimits
from ._configscan import NON_MODELLING_APIS, UNSAFE_LAYERS
from ._hash import sha256, verify
from ._load import load_model
from ._scan import scan
from ._zipscan import ALLOWED_MEMBERS

__all__ = [
    "ALLOWED_MEMBERS",
    "DEFAULT_ALLOWED_MODULES",
    "DEFAULT_LIMITS",
    "NON_MODELLING_APIS",
    "UNSAFE_LAYERS",
    "Advisory",
    "ScanLimits",
    "advisories",
    "audit",
    "load_model",
    "scan",
    "sha256",
    "verify",
]
