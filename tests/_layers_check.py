"""Checks of ks.layers run in a child process on one Keras backend (the backend is per process).

Usage: KERAS_BACKEND=torch python tests/_layers_check.py SAVED_MODEL.keras EXPECTED.npz
Prints "ok <backend>" and exits 0 when every check passes.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np


def main(saved: str, expected: str) -> int:
    import keras
    from scipy import ndimage

    import keras_sanitize as ks

    ref = np.load(expected)
    # A model saved on another backend reloads here with safe_mode=True and gives the same outputs.
    model = keras.saving.load_model(saved, safe_mode=True)
    out = keras.ops.convert_to_numpy(model(ref["x"]))
    np.testing.assert_allclose(out, ref["y"], rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(1)
    img = rng.random((2, 9, 7, 3)).astype("float32")
    med = keras.ops.convert_to_numpy(ks.layers.MedianSmoothing(3)(img))
    np.testing.assert_allclose(med, ndimage.median_filter(img, size=(1, 3, 3, 1), mode="nearest"))
    wave = rng.standard_normal((2, 400)).astype("float32")
    low = ks.layers.LowPass(2000, sample_rate=16000, num_taps=31)
    got = keras.ops.convert_to_numpy(low(wave))
    want = np.stack([np.convolve(w, low._taps, mode="same") for w in wave])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    guard = ks.layers.TensorGuard(-1.0, 1.0, fill_value=0.5)
    got = keras.ops.convert_to_numpy(guard(np.array([[np.nan, np.inf, -3.0, 0.25]], "float32")))
    np.testing.assert_array_equal(got, [[0.5, 0.5, -1.0, 0.25]])
    if importlib.util.find_spec("tensorflow") is not None:
        _check_tf_data(img, wave)
        print("tf.data ok")
    norm = ks.layers.ImageNormalize((-1.0, 1.0), mean=[0.1, 0.2, 0.3], std=[0.5, 0.5, 2.0])
    pixels = rng.integers(0, 256, (2, 4, 4, 3)).astype("uint8")
    want = (pixels / 127.5 - 1.0 - np.array([0.1, 0.2, 0.3])) / np.array([0.5, 0.5, 2.0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm(pixels)), want, rtol=1e-5, atol=1e-5)
    print("ok", keras.config.backend())
    return 0


def _check_tf_data(img: np.ndarray, wave: np.ndarray) -> None:
    """Inside a tf.data pipeline the layers switch to TensorFlow ops (whatever the backend)."""
    import keras
    import tensorflow as tf

    import keras_sanitize as ks

    for layer, data in (
        (ks.layers.MedianSmoothing(3), img),
        (ks.layers.TensorGuard(0.0, 0.5), img),
        (ks.layers.SqueezeBits(3), img),
        (ks.layers.Standardize(), img),
        (ks.layers.LowPass(2000, sample_rate=16000, num_taps=31), wave),
        (ks.layers.PeakNormalize(), wave),
        (ks.layers.RemoveDC(), wave),
        (ks.layers.ImageNormalize((-1.0, 1.0), mean=[0.1, 0.2, 0.3], std=0.5), img * 255),
    ):
        eager = keras.ops.convert_to_numpy(layer(data))
        ds = tf.data.Dataset.from_tensor_slices(data).batch(2).map(layer)
        mapped = np.concatenate([b.numpy() for b in ds])
        np.testing.assert_allclose(mapped, eager, rtol=1e-5, atol=1e-6, err_msg=type(layer).__name__)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
