"""Image verifiers: content statistics and the feature-squeezing adversarial detector.

The detector is shown working end to end: a small Keras model is trained here
on generated 16x16 shapes, FGSM adversarial examples are crafted against it
with ``jax.grad``, the threshold is calibrated on one set of benign images, and
the false-positive rate and detection rate are measured on *other* images.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image.verifiers import ContentStats, FeatureSqueezing
from keras_sanitize.testing import check_stage

os.environ.setdefault("KERAS_BACKEND", "jax")


def _mean_model(batch: np.ndarray) -> np.ndarray:
    m = batch.reshape(len(batch), -1).mean(axis=1)
    return np.stack([m, 1 - m], axis=1)


def test_content_stats() -> None:
    stage = ContentStats(value_range=(0, 1))
    assert stage.run(np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)).codes == ()
    assert stage.run(np.zeros((2, 2, 3), np.float32)).codes == ("image.constant",)
    assert stage.run(np.zeros((2, 2, 3), np.float32)).ok  # constant only warns
    nan = np.array([[[0.0, np.nan, 1.0]]], np.float32)
    assert stage.run(nan).codes == ("image.non_finite",) and not stage.run(nan).ok
    report = stage.run(np.array([[[0.0, 3.0, -1.0]]], np.float32))
    assert report.codes == ("image.out_of_range",) and "max=3" in report.findings[0].message
    assert ContentStats().run(Image.new("L", (2, 2), 3)).codes == ("image.constant",)
    assert ContentStats().run(np.zeros((0, 3), np.float32)).codes == ("image.empty",)
    assert ContentStats().run("text").codes == ("image.not_decoded",)


def test_feature_squeezing_basics() -> None:
    det = FeatureSqueezing(_mean_model, bit_depth=1, median_size=0)
    with pytest.raises(ks.ConfigError, match="calibrate"):
        det.process(np.zeros((4, 4, 1), np.float32), None)  # type: ignore[arg-type]
    benign = [np.full((4, 4, 1), v, np.float32) for v in (0.0, 0.02, 0.97, 1.0)]
    det.calibrate(benign, fpr=0.0)
    assert det.threshold is not None and det.threshold == pytest.approx(0.06, abs=1e-6)
    assert det.run(np.full((4, 4, 1), 0.01, np.float32)).ok
    flagged = det.run(np.full((4, 4, 1), 0.4, np.float32))
    assert flagged.codes == ("image.adversarial",) and flagged.findings[0].score == pytest.approx(0.8)
    batch = np.stack([np.full((4, 4, 1), 0.0, np.float32), np.full((4, 4, 1), 0.4, np.float32)])
    assert len(det.run(batch).findings) == 1
    chw = FeatureSqueezing(_mean_model, threshold=0.1, layout="CHW", value_range=(-1, 1))
    assert chw.run(np.full((3, 4, 4), -1.0, np.float32)).ok
    gray = FeatureSqueezing(_mean_model, threshold=0.1, median_size=3)
    assert gray.run(np.zeros((5, 5), np.float32)).ok  # (H, W) images: spatial median only
    broken = FeatureSqueezing(lambda b: 1 / 0, threshold=0.1)
    assert broken.run(np.zeros((4, 4, 1), np.float32)).codes == ("image.detector_failed",)
    with pytest.raises(ks.ConfigError):
        FeatureSqueezing(_mean_model, bit_depth=0, median_size=0)
    with pytest.raises(ks.ConfigError):
        FeatureSqueezing(model="not callable")  # type: ignore[arg-type]


def test_conformance() -> None:
    check_stage(ContentStats(value_range=(0, 1)), [np.zeros((2, 2, 3), np.float32)], max_examples=40)
    det = FeatureSqueezing(_mean_model, threshold=0.2, bit_depth=3, median_size=3)
    check_stage(det, [np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)], max_examples=40)


def _shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generated 16x16 images of three classes: horizontal bar, vertical bar, hollow square."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 16, 16, 1), np.float32)
    y = rng.integers(0, 3, n)
    for i in range(n):
        a, b = rng.integers(2, 7, 2)
        length, thick, side = rng.integers(6, 11), rng.integers(2, 4), rng.integers(5, 9)
        if y[i] == 0:
            x[i, a : a + thick, b : b + length] = 1
        elif y[i] == 1:
            x[i, a : a + length, b : b + thick] = 1
        else:
            x[i, a : a + side, b : b + side] = 1
            x[i, a + 1 : a + side - 1, b + 1 : b + side - 1] = 0
    x = x * rng.uniform(0.8, 1.0, (n, 1, 1, 1)) + rng.uniform(0, 0.15, x.shape)
    return np.clip(x, 0, 1).astype(np.float32), y


@pytest.mark.slow
def test_feature_squeezing_detects_fgsm_on_a_trained_keras_model() -> None:
    import jax
    import jax.numpy as jnp
    import keras

    keras.utils.set_random_seed(0)
    x_train, y_train = _shapes(3000, seed=0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(batch, training=False))

    x_cal, _ = _shapes(300, seed=1)  # calibration only
    x_test, y_test = _shapes(300, seed=2)  # measured only
    clean_pred = predict(x_test).argmax(axis=1)
    assert (clean_pred == y_test).mean() > 0.95

    def loss(x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.sum(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False)))

    grad = np.asarray(jax.grad(loss)(jnp.asarray(x_test), jnp.asarray(y_test)))
    x_adv = np.clip(x_test + 0.15 * np.sign(grad), 0, 1).astype(np.float32)  # FGSM, eps = 0.15
    fooled = (predict(x_adv).argmax(axis=1) != y_test) & (clean_pred == y_test)
    assert fooled.mean() > 0.5  # the attack works on this model

    det = FeatureSqueezing(predict, bit_depth=1, median_size=0).calibrate(x_cal, fpr=0.05)
    fpr = float((det.scores(x_test) > det.threshold).mean())
    detection = float((det.scores(x_adv[fooled]) > det.threshold).mean())
    assert fpr < 0.15, fpr
    assert detection > 0.8 and detection > fpr + 0.5, (detection, fpr)

    # The same detector as the last stage of the image pipeline.
    pipe = ks.image.default(size=(16, 16), color_mode="L", detector=det)
    benign_png = Image.fromarray((x_test[0, :, :, 0] * 255).round().astype(np.uint8))
    assert pipe.run(benign_png).codes in ((), ("image.adversarial",))
    flagged = [pipe.run(np.asarray(x)).ok for x in x_adv[fooled][:20]]
    assert flagged.count(False) >= 10
