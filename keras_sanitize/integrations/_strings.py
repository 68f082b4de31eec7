"""Batches of strings in every form a string-input Keras model is fed.

A model that starts with ``TextVectorization`` or a KerasHub preprocessor takes a
batch of strings shaped ``(N,)`` or ``(N, 1)``. Callers hand it a list of ``str``,
a numpy ``str``/``bytes``/``object`` array or a ``tf.Tensor`` of strings. Each is
split into items here (one Python ``str`` or ``bytes`` per row), and put back
together in the caller's form (``@ks.sanitize``) or in the form the model accepts
(``ks.wrap``: a ``tf.Tensor`` on the TensorFlow backend, which Keras's ``predict``
takes in both shapes, else a numpy object array).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["StringForm", "is_string_dtype", "rebuild", "string_items", "to_model"]

_TEXT = (str, bytes)


@dataclass(frozen=True)
class StringForm:
    """How a batch of strings arrived: ``kind`` ("tf", "numpy") and the row shape (``()`` or ``(1,)``)."""

    kind: str
    row: tuple[int, ...]
    dtype: Any = None


def is_string_dtype(dtype: Any) -> bool:
    """True for Keras's/TensorFlow's ``"string"`` dtype (the input of a string-taking model)."""
    name = getattr(dtype, "name", dtype)
    return str(name) in ("string", "tf.string")


def _is_tf_strings(value: Any) -> bool:
    module = type(value).__module__ or ""
    if not module.startswith("tensorflow"):
        return False
    return is_string_dtype(getattr(value, "dtype", None))


def string_items(value: Any) -> tuple[list[Any], StringForm] | None:
    """Split a batch of strings into items; ``None`` when ``value`` is not one.

    A batch is a ``tf.Tensor`` of dtype string or a numpy array of ``str``/``bytes``
    (or an object array holding only those), shaped ``(N,)`` or ``(N, 1)``.
    """
    if _is_tf_strings(value):
        try:
            array = value.numpy()
        except Exception:  # symbolic or otherwise not concrete: not ours to split
            return None
        kind = "tf"
    elif isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        array, kind = value, "numpy"
    else:
        return None
    if array.ndim == 1:
        row: tuple[int, ...] = ()
    elif array.ndim == 2 and array.shape[1] == 1:
        row = (1,)
        array = array[:, 0]
    else:
        return None
    items = [x.item() if isinstance(x, np.generic) else x for x in array.tolist()]
    if array.dtype.kind == "O" and not all(isinstance(x, _TEXT) for x in items):
        return None
    return items, StringForm(kind, row, value.dtype if kind == "numpy" else None)


def _all_text(values: list[Any]) -> bool:
    return all(isinstance(v, _TEXT) for v in values)


def rebuild(values: list[Any], form: StringForm) -> Any:
    """The sanitized items in the caller's form (same kind and row shape)."""
    if not _all_text(values):
        return values
    shape = (len(values), *form.row)
    if form.kind == "tf":
        return _tf_strings(values, shape)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    if form.dtype is not None and form.dtype.kind in "US" and values:
        try:
            return out.astype(form.dtype.kind).reshape(shape)
        except (UnicodeEncodeError, ValueError):  # text that the old dtype cannot hold
            pass
    return out.reshape(shape)


def to_model(values: list[Any], rank: int) -> Any:
    """The sanitized items as a string batch of ``rank`` (1 or 2) the model accepts."""
    shape = (len(values),) if rank <= 1 else (len(values), 1)
    try:
        import keras

        backend = keras.config.backend()
    except Exception:  # pragma: no cover - keras is a dependency
        backend = ""
    if backend == "tensorflow":
        return _tf_strings(values, shape)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


def _tf_strings(values: list[Any], shape: tuple[int, ...]) -> Any:
    import tensorflow as tf

    flat = tf.constant(values, dtype=tf.string, shape=(len(values),))
    return tf.reshape(flat, shape)
