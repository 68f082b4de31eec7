"""Sanitizing layers inside a model: saved to ``.keras``, reloaded with ``safe_mode=True``.

``ks.layers`` are plain Keras layers written with ``keras.ops`` only, so the
guard travels inside the model file and runs in the compiled graph on JAX,
torch or TensorFlow: non-finite values are replaced and clipped
(``TensorGuard``), salt-and-pepper noise is removed (``MedianSmoothing``, a
min/max selection network) and small perturbations are squeezed away
(``SqueezeBits``). Reloading needs nothing but ``import keras_sanitize``.

Run: ``KERAS_BACKEND=jax python examples/layers_save_reload.py``
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

import keras_sanitize as ks


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            ks.layers.TensorGuard(min_value=0.0, max_value=1.0),  # NaN/Inf -> 0, then clip
            ks.layers.MedianSmoothing(3),  # 3x3 median
            ks.layers.SqueezeBits(bits=4),  # 16 grey levels
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="guarded_digits",
    )


def main() -> int:
    model = build_model()
    rng = np.random.default_rng(0)
    x = rng.random((4, 28, 28, 1)).astype("float32")
    x[0, 3, 3, 0] = np.nan  # a poisoned pixel
    x[1, 5, 5, 0] = np.inf
    x[2] *= 1e6  # out of range
    before = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "guarded.keras"
        model.save(path)
        # Keras refuses unknown classes in safe mode; ks.layers are registered
        # ("keras_sanitize>TensorGuard", ...) so the file loads as it is.
        again = keras.saving.load_model(path, safe_mode=True)
        after = again.predict(x, verbose=0)
        print(f"saved {path.name}: {path.stat().st_size} bytes; reloaded with safe_mode=True")
    for layer in again.layers[:3]:
        own = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}
        print(f"  {type(layer).__name__:<16} {own}")
    print("outputs finite:", bool(np.isfinite(after).all()))
    print("identical after reload:", bool(np.array_equal(before, after)))
    assert np.isfinite(after).all() and np.array_equal(before, after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
