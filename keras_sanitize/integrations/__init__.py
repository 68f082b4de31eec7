"""Ways into a Keras model: the ``@ks.sanitize`` decorator, ``ks.wrap`` and ``ks.layers``.

Importing this package does not import Keras: the decorator works with any
function, and :mod:`~keras_sanitize.integrations.wrap` and
:mod:`~keras_sanitize.integrations.layers` import Keras themselves.
"""

from __future__ import annotations

__all__: list[str] = []
