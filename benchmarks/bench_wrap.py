"""``ks.wrap`` and ``ks.layers`` vs the bare model, measured in the same run (JAX).

Goal from the issue: ``wrap(model).predict`` with the derived tensor guard on
decoded float32 batches of 32x224x224x3 over a small CNN costs <= 1.05x the raw
``predict``; an in-graph ``TensorGuard`` should be about free.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from _harness import Row, compare

import keras_sanitize as ks

SHAPE = (224, 224, 3)


def _cnn(*front: keras.layers.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            *front,
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _interleaved(
    group: str,
    what: str,
    fn: Callable[[], Any],
    reference: str,
    ref: Callable[[], Any],
    *,
    rounds: int = 25,
    goal: str = "",
    note: str = "",
) -> Row:
    """Best of ``rounds`` alternating calls, with the medians in the note.

    Load from other jobs only ever adds time, so each side's minimum is its cost
    (timeit's rule); alternating the calls keeps a drift in load from favouring one
    side. The medians are printed too, to show how noisy the run was.
    """
    fn()
    ref()
    fn_times: list[float] = []
    ref_times: list[float] = []
    for i in range(rounds):
        order = (fn, ref) if i % 2 == 0 else (ref, fn)
        for call in order:
            start = time.perf_counter()
            call()
            took = time.perf_counter() - start
            (fn_times if call is fn else ref_times).append(took)
    med = statistics.median(fn_times) / statistics.median(ref_times)
    note = note or f"best of {rounds} alternating calls; ratio of medians {med:.2f}x"
    return Row(group, what, min(fn_times), reference, min(ref_times), note, goal)


class _Instant:
    """The model's spec with an instant ``predict``: what remains of a wrapped call is wrap's own work."""

    def __init__(self, model: keras.Model, output: Any) -> None:
        self.inputs, self.outputs, self._output = model.inputs, model.outputs, output

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return self._output


def _median_over_patches(x: Any, size: int = 3) -> Any:
    """The obvious reference: extract every window, then ``ops.median`` over it."""
    ops = keras.ops
    r = size // 2
    padded = ops.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
    h, w = x.shape[1], x.shape[2]
    patches = ops.stack(
        [padded[:, dy : dy + h, dx : dx + w, :] for dy in range(size) for dx in range(size)], axis=-1
    )
    return ops.median(patches, axis=-1)


def run() -> list[Row]:
    x = np.random.default_rng(0).random((32, *SHAPE), dtype=np.float32)
    model = _cnn()
    safe = ks.wrap(model)
    predict = lambda: model.predict(x, batch_size=32, verbose=0)  # noqa: E731
    rows = [
        _interleaved(
            "wrap",
            "wrap(model).predict, derived guard, 32x224x224x3 f32",
            lambda: safe.predict(x, batch_size=32, verbose=0),
            "model.predict",
            predict,
            goal="<= 1.05x",
        ),
        _interleaved(
            "wrap",
            "wrap(model).predict_on_batch",
            lambda: safe.predict_on_batch(x),
            "model.predict_on_batch",
            lambda: model.predict_on_batch(x),
            goal="<= 1.05x",
        ),
    ]
    instant = ks.wrap(_Instant(model, predict()))
    rows.append(
        _interleaved(
            "wrap",
            "wrap's own work per predict (guard, split, align; model stubbed)",
            lambda: instant.predict(x, batch_size=32, verbose=0),
            "model.predict",
            predict,
            goal="≤ 0.05x",
            note="ratio = what wrap adds, as a share of predict",
        )
    )
    guarded = _cnn(ks.layers.TensorGuard(0.0, 1.0))
    rows.append(
        _interleaved(
            "layers",
            "model with TensorGuard(0, 1) in front, predict",
            lambda: guarded.predict(x, batch_size=32, verbose=0),
            "same CNN without it",
            predict,
            goal="~1.0x",
        )
    )
    smoothed = _cnn(ks.layers.MedianSmoothing(3))
    rows.append(
        _interleaved(
            "layers",
            "model with MedianSmoothing(3), predict",
            lambda: smoothed.predict(x, batch_size=32, verbose=0),
            "same CNN without it",
            predict,
            rounds=9,
            note="a 3x3 median on every pixel is real work",
        )
    )
    keras.utils.set_random_seed(0)
    by_network = keras.Sequential([keras.Input(SHAPE), ks.layers.MedianSmoothing(3)])
    by_sorting = keras.Sequential([keras.Input(SHAPE), keras.layers.Lambda(_median_over_patches)])
    rows.append(
        _interleaved(
            "layers",
            "MedianSmoothing(3) compiled (predict), 32x224x224x3",
            lambda: by_network.predict(x, batch_size=32, verbose=0),
            "ops.median over 3x3 patches, compiled",
            lambda: by_sorting.predict(x, batch_size=32, verbose=0),
            rounds=3,
            note="selection network vs sorting the stacked windows",
        )
    )
    median = ks.layers.MedianSmoothing(3)
    small = x[:8]
    rows.append(
        compare(
            "layers",
            "MedianSmoothing(3) eager, 8x224x224x3",
            lambda: keras.ops.convert_to_numpy(median(small)),
            "ops.median over 3x3 patches",
            lambda: keras.ops.convert_to_numpy(_median_over_patches(small)),
            repeat=2,
            note="selection network vs median of stacked windows",
        )
    )
    return rows


if __name__ == "__main__":
    from _harness import render

    print(render(run()))
