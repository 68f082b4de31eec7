"""Scale-out on Ray: sanitize whole datasets (Ray Data) and serve from many replicas (Ray Serve).

Needs the ``ray`` extra (``pip install keras-sanitize[ray]``). Importing this
package does not import Ray; the functions do, on first call.

* :func:`sanitize_dataset` runs a pipeline over one column of a
  ``ray.data.Dataset`` with ``map_batches`` and a pool of actors (one pipeline
  per actor, built once), adding ``ok``, ``codes``, ``findings`` (JSON) and
  ``value`` columns. An actor killed by an input (a decoder crash) is
  restarted by Ray and its batch retried item by item, so that only the
  input that crashed it is refused (``sandbox.crashed``): rows in = rows out.
* :func:`summary` counts the rows per finding code.
* :func:`serve_deployment` runs the model server of :mod:`keras_sanitize.serve`
  (or a wrapped model) as a Ray Serve deployment with ``num_replicas``.

Example:
    >>> import keras_sanitize as ks
    >>> ks.scale.ScaleLimits().max_crashes_per_batch
    16
"""

from __future__ import annotations

from keras_sanitize.scale._dataset import (
    CRASH_CODE,
    INTERNAL_CODE,
    SanitizeBatch,
    ScaleLimits,
    sanitize_dataset,
    summary,
)
from keras_sanitize.scale._serve import serve_deployment

__all__ = [
    "CRASH_CODE",
    "INTERNAL_CODE",
    "SanitizeBatch",
    "ScaleLimits",
    "sanitize_dataset",
    "serve_deployment",
    "summary",
]
