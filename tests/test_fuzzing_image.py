"""``ks.fuzzing.probe`` on a small image classifier trained here (a few epochs on synthetic
shapes): FGSM against noise of the same epsilon, the calibrated squeezing detector, hostile files.
Slow: training takes ~30 s on a shared 2-core machine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import keras_sanitize as ks

pytestmark = pytest.mark.slow


# -- a small image classifier trained here: FGSM vs noise, and the squeezing detector ----------
def shapes(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, size, size, 1) images of 3 classes: disc, square, cross."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    images, labels = [], []
    for i in range(n):
        k = i % 3
        cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
        r = rng.uniform(size * 0.2, size * 0.3)
        if k == 0:
            m = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        elif k == 1:
            m = (abs(y - cy) < r * 0.8) & (abs(x - cx) < r * 0.8)
        else:
            m = ((abs(y - cy) < r * 0.3) & (abs(x - cx) < r)) | ((abs(x - cx) < r * 0.3) & (abs(y - cy) < r))
        img = np.where(m, rng.uniform(160, 255), rng.uniform(0, 90)) + rng.normal(0, 6, m.shape)
        images.append(np.clip(img, 0, 255).astype(np.uint8)[..., None])
        labels.append(k)
    return np.stack(images), np.array(labels)


@pytest.fixture(scope="module")
def classifier() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    x, y = shapes(600)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x / 255.0, y, epochs=6, batch_size=32, verbose=0)
    return model


def _correct(model: Any, n: int, seed: int) -> list[np.ndarray]:
    x, y = shapes(n, seed=seed)
    keep = np.argmax(model.predict_on_batch(x / 255.0), 1) == y
    assert keep.mean() > 0.8, f"the toy classifier should learn the shapes (accuracy {keep.mean():.2f})"
    return list(x[keep])


def test_fgsm_flips_far_more_labels_than_noise_of_the_same_eps(classifier: Any) -> None:
    report = ks.fuzzing.probe(
        classifier,
        "image",
        budget=120,
        seed=0,
        families=["fgsm", "uniform_noise"],
        epsilons=[8 / 255],
        samples=_correct(classifier, 90, seed=11),
    )
    fgsm, noise = report.family("fgsm").raw["flip_rate"], report.family("uniform_noise").raw["flip_rate"]
    assert fgsm >= noise + 0.3, (fgsm, noise)
    assert (
        report.family("fgsm").raw["flip_rate_ci"][0] > report.family("uniform_noise").raw["flip_rate_ci"][1]
    )


def test_calibrated_squeezing_detector_refuses_fgsm_inputs(classifier: Any) -> None:
    from keras_sanitize.image.verifiers import FeatureSqueezing

    benign = np.stack(_correct(classifier, 90, seed=21)) / 255.0
    attacks = ks.fuzzing.attacks(
        classifier, "fgsm", n=60, seed=5, epsilons=[8 / 255], samples=_correct(classifier, 60, seed=22)
    )
    detector = FeatureSqueezing(classifier.predict_on_batch).calibrate(benign, 0.05, attacks=attacks)
    cal = detector.calibration
    assert cal is not None and len(cal["settings"]) > 3
    assert (detector.bit_depth, detector.median_size) == (
        cal["chosen"]["bit_depth"],
        cal["chosen"]["median_size"],
    )
    assert cal["chosen"]["catch_rate"] == max(s["catch_rate"] for s in cal["settings"])
    pipe = ks.image.default(size=(16, 16), mode="L", detector=detector)
    # measured on other images and another seed than the calibration used
    report = ks.fuzzing.probe(
        classifier,
        "image",
        pipe,
        budget=60,
        seed=9,
        families=["fgsm", "uniform_noise"],
        epsilons=[8 / 255],
        samples=_correct(classifier, 90, seed=31),
    )
    fgsm = report.family("fgsm")
    assert fgsm.refused / fgsm.n >= 0.2, fgsm.to_dict()
    assert fgsm.refusal_codes.get("image.adversarial", 0) == fgsm.refused
    assert fgsm.guarded["flip_rate"] < fgsm.raw["flip_rate"]
    assert report.to_dict()["calibration"]["chosen"] == cal["chosen"]


def test_hostile_image_files_are_measured_on_both_paths(classifier: Any) -> None:
    report = ks.fuzzing.probe(
        classifier,
        "image",
        ks.image.default(size=(16, 16), mode="L"),
        budget=24,
        families="malformed,bomb,polyglot,metadata",
    )
    for name in ("malformed", "bomb", "polyglot"):
        assert report.family(name).refused == report.family(name).n, name
    assert report.family("bomb").raw["decode_errors"] == report.family("bomb").n
    assert report.family("metadata").sanitized == report.family("metadata").n
