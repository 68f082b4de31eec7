"""Batches of a stream: generators, iterators, ``keras.utils.PyDataset``, ``tf.data``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from keras_sanitize.findings import Report
from keras_sanitize.integrations._outputs import fill_like

__all__ = ["batches", "concat_pieces", "is_stream", "reindex"]


def is_stream(x: Any) -> bool:
    """A generator, iterator, ``keras.utils.PyDataset``, ``tf.data.Dataset`` or loader."""
    if isinstance(x, (np.ndarray, list, tuple, Mapping, str, bytes, bytearray)) or hasattr(x, "shape"):
        return False
    if inspect.isgenerator(x) or hasattr(x, "__next__"):
        return True
    module = type(x).__module__ or ""
    if module.startswith("tensorflow") and hasattr(x, "as_numpy_iterator"):
        return True
    try:
        import keras

        if isinstance(x, keras.utils.PyDataset):
            return True
    except ImportError:  # pragma: no cover
        pass
    return hasattr(x, "__iter__")


def batches(data: Any) -> Iterator[Any]:
    import keras

    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        i = 0
        while count is None or i < count:
            yield data[i]
            i += 1
        return
    if (type(data).__module__ or "").startswith("tensorflow") and hasattr(data, "as_numpy_iterator"):
        yield from data.as_numpy_iterator()
        return
    yield from data


def concat_pieces(pieces: list[Any]) -> Any:
    arrays = [p for p in pieces if isinstance(p, np.ndarray)]
    if arrays and len(arrays) == len(pieces):
        return np.concatenate(pieces, axis=0)
    if arrays:  # some batches were refused whole before any output was seen
        pieces = [p if isinstance(p, np.ndarray) else fill_like(arrays[0], len(p)) for p in pieces]
        return np.concatenate(pieces, axis=0)
    if pieces and all(isinstance(p, Mapping) for p in pieces):
        return {k: concat_pieces([p[k] for p in pieces]) for k in pieces[0]}
    out: list[Any] = []
    for p in pieces:
        out.extend(p if isinstance(p, (list, tuple)) else [p])
    return out


def reindex(report: Report, offset: int) -> Report:
    index = (report.index or 0) + offset
    findings = tuple(f.with_(index=index) for f in report.findings)
    return Report(report.ok, report.value, findings, report.timings, report.modality, index)
